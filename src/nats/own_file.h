/* The bridge's own files beside the mailboxes (the JetStream export
 * journal and import state): opened only when they are ours alone. */
#ifndef MBX_NATS_OWN_FILE_H
#define MBX_NATS_OWN_FILE_H

/* Opens (creating, mode 0600) the regular file at path for reading and
 * writing, never through a symbolic link. Returns the descriptor, -EACCES
 * when the file belongs to another user or others may open it (a file
 * planted in a shared directory: adopting it would let its owner read our
 * messages, put messages in our stream or truncate it under us), -EUCLEAN
 * when it is not a regular file, or another -errno. */
int own_file_open(const char *path);

#endif
