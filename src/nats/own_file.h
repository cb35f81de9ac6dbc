/* The bridge's own files beside the mailboxes (the JetStream export
 * journal and import state): opened only when they are ours alone. */
#ifndef MBX_NATS_OWN_FILE_H
#define MBX_NATS_OWN_FILE_H

/* Opens (creating, mode 0600) the regular file at path for reading and
 * writing, never through a symbolic link, and locks it (flock, exclusive)
 * for as long as the descriptor stays open. Returns the descriptor,
 * -EACCES when the file belongs to another user, others may open it or it
 * has another link (a file planted in a shared directory, or one of ours
 * linked there: adopting it would let its owner read our messages, put
 * messages in our stream or truncate it under us), -EBUSY when another
 * open descriptor holds its lock (another bridge uses it: two writing one
 * journal lose and duplicate messages), -EUCLEAN when it is not a regular
 * file, or another -errno. */
int own_file_open(const char *path);

/* Returns 0 when fd is a regular file that is ours alone: our user's,
 * closed to group and others, one link. Else -EACCES (another user's, open
 * to others, or linked elsewhere too), -EUCLEAN (not a regular file) or
 * fstat's -errno. */
int own_file_check(int fd);

#endif
