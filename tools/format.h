/* How the tool prints messages and mailbox descriptions. */
#ifndef MBX_TOOLS_FORMAT_H
#define MBX_TOOLS_FORMAT_H

#include <stdio.h>

#include "mbx.h"

/* One received message: the payload and a newline, or one JSON object on
 * one line. With escape, what a terminal would act on instead of showing
 * (control characters, escape sequences, bytes that are not UTF-8) is
 * written as \t, \n, \r, \xNN, and a backslash as two. */
void format_msg_text(FILE *f, const void *buf, size_t len, int escape);
void format_msg_json(FILE *f, const void *buf, size_t len, const mbx_msginfo *info, uint64_t type);

/* Text that others control (a file in a shared directory, a header from
 * the network), escaped as format_msg_text's escape does, so that it can
 * only be read, never act on the terminal. Returns the number of bytes
 * written (to pad a column with). */
size_t format_escaped(FILE *f, const void *buf, size_t len);

/* A stream mailbox's bytes, escaped piece by piece like format_escaped
 * except that a newline stays one (a stream's lines are its text). A UTF-8
 * character that the end of a piece cuts is held back until the next
 * piece completes it, so that it is not shown as \xNN bytes; at the end of
 * the stream, format_stream_end writes what is still held (escaped: it
 * never got complete). Start with a zeroed struct. */
struct format_stream {
    unsigned char hold[4];
    size_t held;
};
void format_stream_escaped(FILE *f, struct format_stream *s, const void *buf, size_t len);
void format_stream_end(FILE *f, struct format_stream *s);

/* `mbx stat`: one "key: value" line per field, or one JSON object. */
void format_stat_text(FILE *f, const char *name, const mbx_stat *st);
void format_stat_json(FILE *f, const char *name, const mbx_stat *st);
/* The same with what mbx_stat_ext adds (ext NULL: without), and the text
 * lines of what it adds. */
void format_stat_json_ext(FILE *f, const char *name, const mbx_stat *st, const mbx_stat_ext *ext);
void format_stat_ext_text(FILE *f, const mbx_stat_ext *ext);

/* `mbx ls`: a header line, then one row per mailbox; name_width is the
 * width of the first column. */
void format_ls_header(FILE *f, int name_width);
void format_ls_row(FILE *f, int name_width, const char *name, const mbx_stat *st);
/* A row for a mailbox whose description could not be read. */
void format_ls_error(FILE *f, int name_width, const char *name, int err);

#endif
