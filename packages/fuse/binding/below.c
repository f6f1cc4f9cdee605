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

/** openat2(dirfd, path, O_PATH|O_DIRECTORY, RESOLVE_BENEATH): a descriptor or -errno. */
static int open_beneath(int dirfd, const char *path) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  return fd < 0 ? -errno : (int)fd;
}

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
  // A path deeper than one call takes (a mount's paths have no such limit) is opened in steps of
  // whole names, each below the last: each step stays beneath a directory beneath the root.
  int dir = root;
  const char *at = path;
  char step[PATH_MAX];
  while (at < slash) {
    size_t n = (size_t)(slash - at);
    if (n >= PATH_MAX) {
      const char *cut = at + PATH_MAX - 1;
      while (cut > at && *cut != '/') cut--;
      if (cut == at) {
        if (dir != root) close(dir);
        return -ENAMETOOLONG;  // one name over PATH_MAX: the kernel sends none such
      }
      n = (size_t)(cut - at);
    }
    memcpy(step, at, n);
    step[n] = '\0';
    int next = open_beneath(dir, step);
    if (dir != root) close(dir);
    if (next < 0) return next;
    dir = next;
    at += n;
    while (*at == '/') at++;
  }
  *base = slash + 1;
  *owned = 1;
  return dir;
}

int below_proc_path(int dirfd, const char *base, char *out, unsigned long n) {
  int len = snprintf(out, n, "/proc/self/fd/%d/%s", dirfd, base);
  if (len < 0 || (unsigned long)len >= n) return -ENAMETOOLONG;
  return 0;
}
