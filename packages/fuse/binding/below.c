#define _GNU_SOURCE
#include "below.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

int below_parent(int root, const char *path, const char **base, int *owned) {
  while (*path == '/') path++;
  const char *slash = strrchr(path, '/');
  *owned = 0;
  if (*path == '\0') {
    *base = ".";
    return root;
  }
  if (!slash) {
    *base = path;
    return root;
  }
  size_t n = (size_t)(slash - path);
  if (n >= PATH_MAX) return -ENAMETOOLONG;
  char dir[PATH_MAX];
  memcpy(dir, path, n);
  dir[n] = '\0';
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, root, dir, &how, sizeof how);
  if (fd < 0) return -errno;
  *base = slash + 1;
  *owned = 1;
  return (int)fd;
}

int below_proc_path(int dirfd, const char *base, char *out, unsigned long n) {
  int len = snprintf(out, n, "/proc/self/fd/%d/%s", dirfd, base);
  if (len < 0 || (unsigned long)len >= n) return -ENAMETOOLONG;
  return 0;
}
