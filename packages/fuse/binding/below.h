// Paths below a root directory, resolved without leaving it: the parent directory of a path is
// opened with openat2(RESOLVE_BENEATH), so a symlink or ".." that leads out is refused (EXDEV)
// instead of followed.
#ifndef SHYLOCK_BELOW_H
#define SHYLOCK_BELOW_H

/**
 * Opens the parent directory of path ("/a/b/c" → "a/b") below root (O_PATH); *base is set to the
 * last name ("c", or "." for "/"). Returns a descriptor, root itself for a top-level name
 * (*owned = 0), or -errno.
 */
int below_parent(int root, const char *path, const char **base, int *owned);

/** "/proc/self/fd/<dirfd>/<base>" into out (size n): a path the l*xattr calls can use. -ENAMETOOLONG when it does not fit. */
int below_proc_path(int dirfd, const char *base, char *out, unsigned long n);

#endif
