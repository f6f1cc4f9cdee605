// shylock's FUSE binding: N-API over libfuse 3's high-level API.
//
// The kernel's requests are read by libfuse's multi-threaded loop on threads of its own. Reads
// and writes of registered handles (a descriptor or a value in memory, with prepaid QoS credit),
// getattr and xattr reads below a native root, and no-op flushes are answered on those threads.
// Every other request crosses to Node's main thread: the FUSE thread parks it in a slot, queues
// its id on a thread-safe function and sleeps on a semaphore until JavaScript answers through
// reply() (or the mount closes). See README.md, "The binding".
#define _GNU_SOURCE
#define FUSE_USE_VERSION 312
#define NAPI_VERSION 8

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <node_api.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "below.h"
#include "handles.h"
#include "names.h"
#include "listed.h"
#include "prefetch.h"

// Operations that cross to JavaScript; the numbers are shared with src/binding.ts.
enum {
  OP_GETATTR, OP_FGETATTR, OP_READDIR, OP_OPEN, OP_CREATE, OP_READ, OP_WRITE, OP_FLUSH,
  OP_FSYNC, OP_RELEASE, OP_TRUNCATE, OP_FTRUNCATE, OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_RENAME,
  OP_CHMOD, OP_CHOWN, OP_UTIMENS, OP_MKNOD, OP_READLINK, OP_SYMLINK, OP_LINK, OP_GETXATTR,
  OP_LISTXATTR, OP_SETXATTR, OP_REMOVEXATTR, OP_STATFS,
  OP_INTERRUPT = 254,
  OP_END = 255,
};

/*
 * Interrupts: libfuse (mounted with `intr`) signals the thread of a request the kernel wants
 * interrupted (the caller got a signal: Ctrl-C on a `cat` waiting on a stream). The signal only
 * wakes that thread from its wait; it tells JavaScript, which aborts the operation, and the
 * request is answered EINTR. A real-time signal nobody else in a Node process uses.
 */
#define INTR_SIGNAL (SIGRTMIN + 5)
/** Marks a queued id as "interrupt this request" rather than "handle this request". */
#define INTR_MARK ((uintptr_t)1 << 32)
static void on_intr_signal(int sig) { (void)sig; }

// Layout of the shared Float64Array `io`.
enum { IO_CALLER = 0, IO_STAT = 4, IO_STATFS = 16, IO_SIZE = 32, STAT_FIELDS = 12 };

/** A read or write answered with this: the credit was topped up, the FUSE thread serves it. */
#define SERVE_NATIVE (-1000000)
/** Rounds of topping up before a request is served regardless (other threads took the credit). */
#define SERVE_ROUNDS 3
/** Or'ed into the handle an open answers: that open bypasses the page cache. */
#define DIRECT_IO_BIT 0x40000000
#define SLOTS 1024
/** Handles the FUSE threads open themselves (from prefetched content) have this bit; JavaScript's never. */
#define OWN_FH_BIT (1ull << 62)
/** How long a lookup's content waits for its open, ns. */
#define PREFETCH_NS 200000000ull
/** Queued by the loop thread when the mount's connection has ended (never a request id). */
#define END_MARK ((void *)(uintptr_t)0x100000000ull)
/** A time of "leave it as it is" (UTIME_OMIT) crosses as this many milliseconds. */
#define OMIT_MS 18446744073709551615.0

typedef struct request {
  int op;
  uint32_t id;
  const char *path, *path2, *name;
  const char *data;  /* write, setxattr */
  char *out;         /* read, readlink, getxattr, listxattr */
  size_t size;
  off_t offset;
  uint64_t fh;
  int flags;
  mode_t mode;
  dev_t dev;
  uid_t uid;
  gid_t gid;
  double atime, mtime;
  struct fuse_file_info *fi;
  struct stat *st;
  struct statvfs *sv;
  void *dirbuf;
  fuse_fill_dir_t filler;
  struct fuse_context caller;
  int result;
  napi_ref buffer;  /* a read's or write's external Buffer over libfuse's memory, detached when answered */
  atomic_int answered;
  sem_t done;
} request_t;

typedef struct {
  struct fuse *fuse;
  char *mountpoint;
  pthread_t loop;
  napi_threadsafe_function tsfn;
  napi_ref io_ref;
  double *io;
  handle_table_t handles;
  int root_fd;
  atomic_int report_errors;
  atomic_int ended;
  atomic_int closing;
  unsigned max_threads, max_write, max_readahead, max_read;
  int use_ino;
  prefetch_t prefetch;
  listed_t listed;              /* stats of recent listings' entries, for lookups */
  atomic_int prefetch_on;       /* contents given with stats are kept for the opens that follow */
  atomic_uint_fast64_t own_fh;  /* the last handle number of the FUSE threads' own opens */
  pthread_mutex_t lock;
  request_t *slots[SLOTS];
  uint32_t next_id;
  int finished;
  int queue_gone; /* the thread-safe function was finalized (the environment is ending) */
} mount_t;

/* ---------- helpers ---------- */

static mount_t *current_mount(void) { return (mount_t *)fuse_get_context()->private_data; }

static double ts_ms(const struct timespec *ts) { return (double)ts->tv_sec * 1e3 + (double)ts->tv_nsec / 1e6; }

static struct timespec ms_ts(double ms) {
  struct timespec ts;
  double sec = ms / 1e3;
  ts.tv_sec = (time_t)sec;
  if ((double)ts.tv_sec > sec) ts.tv_sec--;
  // A double of milliseconds holds today's times to about a quarter of a microsecond: keep
  // whole microseconds rather than invent nanoseconds.
  long ns = (long)((ms - (double)ts.tv_sec * 1e3) * 1e3 + 0.5) * 1000L;
  if (ns >= 1000000000L) ns = 999999000L;
  if (ns < 0) ns = 0;
  ts.tv_nsec = ns;
  return ts;
}

static void fill_stat(struct stat *st, const double *v) {
  memset(st, 0, sizeof *st);
  st->st_mode = (mode_t)v[0];
  st->st_uid = (uid_t)v[1];
  st->st_gid = (gid_t)v[2];
  st->st_size = (off_t)v[3];
  st->st_nlink = (nlink_t)v[4];
  st->st_rdev = (dev_t)v[5];
  st->st_blksize = (blksize_t)v[6];
  st->st_blocks = (blkcnt_t)v[7];
  st->st_atim = ms_ts(v[8]);
  st->st_mtim = ms_ts(v[9]);
  st->st_ctim = ms_ts(v[10]);
  st->st_ino = (ino_t)v[11];  // shown with use_ino (backends with inode numbers)
}

static ssize_t pread_full(int fd, char *buf, size_t size, off_t off) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, buf + done, size - done, off + (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (done > 0) break;
      return -1;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

static ssize_t pwrite_full(int fd, const char *buf, size_t size, off_t off) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, buf + done, size - done, off + (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (done > 0) break;
      return -1;
    }
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/* ---------- crossing to JavaScript ---------- */

/** Answers a parked request (lock held by the caller or not needed): the FUSE thread goes on. */
static void answer(request_t *r, int result) {
  r->result = result;
  atomic_store_explicit(&r->answered, 1, memory_order_release);
  sem_post(&r->done);
}

/** How long a FUSE thread spins for its answer before it sleeps: most come sooner. */
#define SPIN_NS 50000
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static long elapsed_ns(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/** Parks r, queues it for the main thread, and waits for its answer. */
static int cross(mount_t *m, request_t *r) {
  r->caller = *fuse_get_context();
  sem_init(&r->done, 0, 0);
  pthread_mutex_lock(&m->lock);
  if (atomic_load(&m->closing) || m->queue_gone) {
    pthread_mutex_unlock(&m->lock);
    sem_destroy(&r->done);
    return r->op == OP_RELEASE || r->op == OP_FLUSH ? 0 : -EIO;
  }
  uint32_t slot = SLOTS;
  for (uint32_t i = 0; i < SLOTS; i++) {
    uint32_t s = (m->next_id + i) % SLOTS;
    if (!m->slots[s]) {
      slot = s;
      break;
    }
  }
  if (slot == SLOTS) {
    pthread_mutex_unlock(&m->lock);
    sem_destroy(&r->done);
    return -EAGAIN;
  }
  // The id carries a generation above the slot, so an answer that comes too late is ignored.
  m->next_id += SLOTS;
  r->id = (m->next_id & ~(uint32_t)(SLOTS - 1)) | slot;
  m->slots[slot] = r;
  // Queued under the lock: the queue's finalizer takes it too, so the queue is never used after.
  if (napi_call_threadsafe_function(m->tsfn, (void *)(uintptr_t)r->id, napi_tsfn_nonblocking) != napi_ok) {
    m->slots[slot] = NULL;
    answer(r, -EIO);
  }
  pthread_mutex_unlock(&m->lock);
  // A sleeping thread costs a wake-up (tens of microseconds) on top of the answer: wait awake
  // for a short while first. The semaphore is taken either way.
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!atomic_load_explicit(&r->answered, memory_order_acquire) && elapsed_ns(&start) < SPIN_NS) {
    CPU_RELAX();
  }
  // The interrupt signal wakes this thread from sem_wait (it is blocked in every other thread of
  // the mount, which inherit a mask with everything blocked).
  static __thread int intr_open;
  if (!intr_open) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, INTR_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    intr_open = 1;
  }
  int told = 0;
  while (sem_wait(&r->done) == -1 && errno == EINTR) {
    if (told || !fuse_interrupted()) continue;
    told = 1;
    pthread_mutex_lock(&m->lock);
    // Still parked: JavaScript is told to abort it (its answer then comes as usual).
    // Reads only: they are what may wait without end (a stream); JavaScript keeps their aborts.
    if (r->op == OP_READ && !m->queue_gone && !atomic_load(&m->closing) && m->slots[r->id % SLOTS] == r) {
      napi_call_threadsafe_function(m->tsfn, (void *)((uintptr_t)r->id | INTR_MARK), napi_tsfn_nonblocking);
    }
    pthread_mutex_unlock(&m->lock);
  }
  sem_destroy(&r->done);
  return r->result;
}

/** Takes the parked request with this id out of its slot (main thread), or NULL when it is gone. */
static request_t *claim(mount_t *m, uint32_t id) {
  pthread_mutex_lock(&m->lock);
  request_t *r = m->slots[id % SLOTS];
  if (r && r->id == id) m->slots[id % SLOTS] = NULL;
  else r = NULL;
  pthread_mutex_unlock(&m->lock);
  return r;
}

static void take_back(napi_env env, request_t *r);

/**
 * Answers every parked request (lock held): EIO, or success for a release or flush. With an
 * environment, buffers lent to JavaScript are detached first (none is given while it ends).
 */
static void abort_locked(napi_env env, mount_t *m) {
  for (int i = 0; i < SLOTS; i++) {
    request_t *r = m->slots[i];
    if (!r) continue;
    m->slots[i] = NULL;
    if (env) take_back(env, r);
    answer(r, r->op == OP_RELEASE || r->op == OP_FLUSH ? 0 : -EIO);
  }
}

static void abort_all(napi_env env, mount_t *m) {
  pthread_mutex_lock(&m->lock);
  abort_locked(env, m);
  pthread_mutex_unlock(&m->lock);
}

/**
 * The queue is finalized: after finish(), or when Node's environment ends with the mount still
 * up (the process exits). From then on nothing crosses; the mount is detached so no stale mount
 * stays behind the process.
 */
static void queue_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mount_t *m = data;
  pthread_mutex_lock(&m->lock);
  m->queue_gone = 1;
  atomic_store(&m->closing, 1);
  abort_locked(NULL, m);
  pthread_mutex_unlock(&m->lock);
  if (!m->finished && !atomic_load(&m->ended)) umount2(m->mountpoint, MNT_DETACH);
}

static napi_value js_name(napi_env env, const char *s) {
  napi_value v;
  if (!s) {
    napi_get_undefined(env, &v);
    return v;
  }
  size_t len = strlen(s);
  if (name_is_utf8(s, len)) {
    napi_create_string_utf8(env, s, len, &v);
    return v;
  }
  uint16_t *units = malloc((len + 1) * sizeof *units);
  if (!units) {
    napi_create_string_utf8(env, s, len, &v);
    return v;
  }
  size_t n = name_decode(s, len, units);
  napi_create_string_utf16(env, (const char16_t *)units, n, &v);
  free(units);
  return v;
}

/** A string's bytes (surrogate escapes back to their bytes), NUL-terminated, malloc'd; NULL when not a string. */
static char *string_bytes(napi_env env, napi_value v, size_t *len) {
  size_t n;
  if (napi_get_value_string_utf16(env, v, NULL, 0, &n) != napi_ok) return NULL;
  uint16_t *units = malloc((n + 1) * sizeof *units);
  char *out = malloc(3 * n + 1);
  if (!units || !out) {
    free(units);
    free(out);
    return NULL;
  }
  napi_get_value_string_utf16(env, v, (char16_t *)units, n + 1, &n);
  size_t bytes = name_encode(units, n, out);
  out[bytes] = '\0';
  free(units);
  if (len) *len = bytes;
  return out;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static void finish(napi_env env, mount_t *m);

/**
 * Hands JavaScript libfuse's own buffer of a read or write (no copy). It lives until the request
 * is answered; then the Buffer is detached, so a handler that keeps it sees it empty, never freed memory.
 */
static napi_value lend(napi_env env, request_t *r, void *data, size_t size) {
  napi_value buf;
  if (napi_create_external_buffer(env, size, data, NULL, NULL, &buf) != napi_ok) {
    void *copy;
    napi_get_undefined(env, &buf);
    napi_create_buffer(env, 0, &copy, &buf);
    return buf;
  }
  napi_create_reference(env, buf, 1, &r->buffer);
  return buf;
}

/** Detaches a lent buffer (main thread, before the request is answered). */
static void take_back(napi_env env, request_t *r) {
  if (!r->buffer) return;
  napi_value buf, ab;
  if (napi_get_reference_value(env, r->buffer, &buf) == napi_ok && buf) {
    if (napi_get_typedarray_info(env, buf, NULL, NULL, NULL, &ab, NULL) == napi_ok) napi_detach_arraybuffer(env, ab);
  }
  napi_delete_reference(env, r->buffer);
  r->buffer = NULL;
}

/** Main thread: hands the request with this id to the JavaScript dispatcher. */
static void call_js(napi_env env, napi_value dispatch, void *context, void *data) {
  mount_t *m = context;
  if (data == END_MARK) {
    if (!env) return;
    finish(env, m);
    napi_value argv[6], global;
    napi_get_undefined(env, &argv[1]);
    for (int i = 1; i < 6; i++) argv[i] = argv[1];
    argv[0] = num(env, OP_END);
    napi_get_global(env, &global);
    if (napi_call_function(env, global, dispatch, 6, argv, NULL) != napi_ok) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
    }
    napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
    return;
  }
  uint32_t id = (uint32_t)(uintptr_t)data;
  request_t *r;
  pthread_mutex_lock(&m->lock);
  r = m->slots[id % SLOTS];
  if (r && r->id != id) r = NULL;
  pthread_mutex_unlock(&m->lock);
  if (!r) return;  // answered already (the mount closed)
  if ((uintptr_t)data & INTR_MARK) {
    // dispatch(OP_INTERRUPT, id): the handler of that request aborts what it waits for.
    if (!env) return;
    napi_value argv[6], global;
    napi_get_undefined(env, &argv[2]);
    for (int i = 3; i < 6; i++) argv[i] = argv[2];
    argv[0] = num(env, OP_INTERRUPT);
    argv[1] = num(env, id);
    napi_get_global(env, &global);
    if (napi_call_function(env, global, dispatch, 6, argv, NULL) != napi_ok) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
    }
    return;
  }
  if (!env) {
    if (claim(m, id)) answer(r, -EIO);
    return;
  }
  // Only this thread takes requests out of their slots, so r stays valid until the handler runs.
  m->io[IO_CALLER] = r->caller.uid;
  m->io[IO_CALLER + 1] = r->caller.gid;
  m->io[IO_CALLER + 2] = r->caller.pid;
  m->io[IO_CALLER + 3] = r->caller.umask;
  napi_value argv[6], undef;
  napi_get_undefined(env, &undef);
  for (int i = 0; i < 6; i++) argv[i] = undef;
  argv[0] = num(env, r->op);
  argv[1] = num(env, r->id);
  argv[2] = js_name(env, r->path);
  switch (r->op) {
    case OP_FGETATTR:
    case OP_FLUSH:
    case OP_RELEASE:
      argv[3] = num(env, (double)r->fh);
      break;
    case OP_OPEN:
      argv[3] = num(env, r->flags);
      break;
    case OP_CREATE:
      argv[3] = num(env, r->mode);
      argv[4] = num(env, r->flags);
      break;
    case OP_READ:
      argv[3] = num(env, (double)r->fh);
      argv[4] = lend(env, r, r->out, r->size);
      argv[5] = num(env, (double)r->offset);
      break;
    case OP_WRITE:
      argv[3] = num(env, (double)r->fh);
      argv[4] = lend(env, r, (void *)r->data, r->size);
      argv[5] = num(env, (double)r->offset);
      break;
    case OP_FSYNC:
      argv[3] = num(env, r->flags);
      argv[4] = num(env, (double)r->fh);
      break;
    case OP_TRUNCATE:
      argv[3] = num(env, (double)r->offset);
      break;
    case OP_FTRUNCATE:
      argv[3] = num(env, (double)r->fh);
      argv[4] = num(env, (double)r->offset);
      break;
    case OP_MKDIR:
    case OP_CHMOD:
      argv[3] = num(env, r->mode);
      break;
    case OP_RENAME:
    case OP_LINK:
    case OP_SYMLINK:
      argv[3] = js_name(env, r->path2);
      break;
    case OP_CHOWN:
      argv[3] = num(env, r->uid);
      argv[4] = num(env, r->gid);
      break;
    case OP_UTIMENS:
      argv[3] = num(env, r->atime);
      argv[4] = num(env, r->mtime);
      break;
    case OP_MKNOD:
      argv[3] = num(env, r->mode);
      argv[4] = num(env, (double)r->dev);
      break;
    case OP_GETXATTR:
    case OP_REMOVEXATTR:
      argv[3] = js_name(env, r->name);
      break;
    case OP_SETXATTR: {
      void *copy;
      argv[3] = js_name(env, r->name);
      napi_create_buffer_copy(env, r->size, r->data, &copy, &argv[4]);
      argv[5] = num(env, r->flags);
      break;
    }
    default:
      break;
  }
  napi_value global;
  napi_get_global(env, &global);
  if (napi_call_function(env, global, dispatch, 6, argv, NULL) != napi_ok) {
    // The dispatcher threw (it should not): answer rather than leave the FUSE thread waiting.
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    request_t *late = claim(m, id);
    if (late) {
      take_back(env, late);
      answer(late, -EIO);
    }
  }
}

/* ---------- libfuse operations ---------- */

static int native_root(mount_t *m) { return m->root_fd >= 0 && !atomic_load(&m->closing); }

/** lstat below the root; 1 when the answer must come from the backend instead. */
static int native_lstat(mount_t *m, const char *path, struct stat *st, int *result) {
  const char *base;
  int owned;
  int dir = below_parent(m->root_fd, path, &base, &owned);
  if (dir < 0) {
    if (dir == -ENOENT || dir == -ENOTDIR || dir == -EACCES || dir == -ENAMETOOLONG) {
      *result = dir;
      return 0;
    }
    return 1;  // a way out of the root, or something unusual: the backend decides
  }
  int r = fstatat(dir, base, st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH);
  *result = r == 0 ? 0 : -errno;
  if (owned) close(dir);
  return 0;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  mount_t *m = current_mount();
  if (fi && (fi->fh & OWN_FH_BIT) && ht_owned_stat(&m->handles, fi->fh, st)) return 0;
  if (native_root(m)) {
    int result;
    int fd = fi ? ht_fd(&m->handles, fi->fh) : -1;
    if (fd >= 0) {
      result = fstat(fd, st) == 0 ? 0 : -errno;
      if (result == 0 || !atomic_load(&m->report_errors)) return result;
    } else if (!fi && !native_lstat(m, path, st, &result)) {
      if (result == 0 || !atomic_load(&m->report_errors)) return result;
    }
  }
  // A name of a fresh listing (the lookups of `ls -l`): its stat came with the listing.
  if (!fi && ls_get(&m->listed, path, st, pf_now())) return 0;
  request_t r = {.op = fi ? OP_FGETATTR : OP_GETATTR, .path = path, .st = st, .fh = fi ? fi->fh : 0};
  return cross(m, &r);
}

static int op_readlink(const char *path, char *buf, size_t size) {
  request_t r = {.op = OP_READLINK, .path = path, .out = buf, .size = size};
  return cross(current_mount(), &r);
}

static int op_mknod(const char *path, mode_t mode, dev_t dev) {
  request_t r = {.op = OP_MKNOD, .path = path, .mode = mode, .dev = dev};
  return cross(current_mount(), &r);
}

static int op_mkdir(const char *path, mode_t mode) {
  request_t r = {.op = OP_MKDIR, .path = path, .mode = mode};
  return cross(current_mount(), &r);
}

static int op_unlink(const char *path) {
  request_t r = {.op = OP_UNLINK, .path = path};
  return cross(current_mount(), &r);
}

static int op_rmdir(const char *path) {
  request_t r = {.op = OP_RMDIR, .path = path};
  return cross(current_mount(), &r);
}

static int op_symlink(const char *target, const char *path) {
  request_t r = {.op = OP_SYMLINK, .path = target, .path2 = path};
  return cross(current_mount(), &r);
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
  if (flags) return -EINVAL;  // RENAME_NOREPLACE / EXCHANGE: callers fall back to plain rename
  request_t r = {.op = OP_RENAME, .path = from, .path2 = to};
  return cross(current_mount(), &r);
}

static int op_link(const char *from, const char *to) {
  request_t r = {.op = OP_LINK, .path = from, .path2 = to};
  return cross(current_mount(), &r);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  (void)fi;
  request_t r = {.op = OP_CHMOD, .path = path, .mode = mode};
  return cross(current_mount(), &r);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  (void)fi;
  request_t r = {.op = OP_CHOWN, .path = path, .uid = uid, .gid = gid};
  return cross(current_mount(), &r);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  if (fi && (fi->fh & OWN_FH_BIT)) fi = NULL;  // a handle JavaScript does not know: truncate the path
  request_t r = {.op = fi ? OP_FTRUNCATE : OP_TRUNCATE, .path = path, .offset = size, .fh = fi ? fi->fh : 0};
  return cross(current_mount(), &r);
}

/**
 * A read-only open of a path whose content came with its lookup moments ago: a handle of the
 * FUSE threads' own over a copy of it, read, fstat'ed, flushed and released here, no JavaScript.
 */
static int open_prefetched(mount_t *m, const char *path, struct fuse_file_info *fi) {
  if (!atomic_load(&m->prefetch_on) || (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_DIRECT))) return 0;
  content_t *c = pf_take(&m->prefetch, path, pf_now());
  if (!c) return 0;
  handle_t h = {0};
  h.fh = OWN_FH_BIT | (atomic_fetch_add(&m->own_fh, 1) + 1);
  h.fd = -1;
  h.bytes = c->bytes;
  h.length = c->length;
  h.owner = c;
  h.flags = H_READ | H_FLUSH_NOOP | H_OWNED;
  for (int d = 0; d < 2; d++) h.credit[d][0] = h.credit[d][1] = CREDIT_UNLIMITED;
  int err;
  ht_put(&m->handles, &h, &err);
  if (err) {
    free(c);
    return 0;
  }
  fi->fh = h.fh;
  return 1;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  mount_t *m = current_mount();
  if (open_prefetched(m, path, fi)) return 0;
  request_t r = {.op = OP_OPEN, .path = path, .flags = fi->flags, .fi = fi};
  return cross(m, &r);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  request_t r = {.op = OP_CREATE, .path = path, .mode = mode, .flags = fi->flags, .fi = fi};
  return cross(current_mount(), &r);
}

/** A native read of a granted request; -errno, or the count. */
static int native_read(const grant_t *g, char *buf, size_t size, off_t off) {
  if (g->fd >= 0) {
    ssize_t n = pread_full(g->fd, buf, size, off);
    return n < 0 ? -errno : (int)n;
  }
  size_t n = off >= (off_t)g->length ? 0 : g->length - (size_t)off;
  if (n > size) n = size;
  if (n > 0) memcpy(buf, g->bytes + off, n);
  return (int)n;
}

/**
 * Reads and writes of registered handles are served here while they hold credit; out of credit,
 * the request crosses to JavaScript, which tops the credit up and answers SERVE_NATIVE (then the
 * FUSE thread serves it after all), or does the I/O itself while the rule makes it wait.
 */
static int native_io(mount_t *m, int dir, const char *path, char *rbuf, const char *wbuf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  for (int round = 0;; round++) {
    if (dir == DIR_READ) {
      // A stream's bytes JavaScript fed ahead of the reader: no crossing while there are some.
      int n = ht_stream_read(&m->handles, fi->fh, rbuf, size);
      if (n >= 0) return n;
    }
    grant_t g;
    int granted = ht_take(&m->handles, fi->fh, dir, size, &g);
    if (!granted && round == SERVE_ROUNDS) {
      // Topped up this often and still taken by other threads: the rule was paid meanwhile.
      granted = ht_grant(&m->handles, fi->fh, dir, &g);
    }
    if (granted && (dir == DIR_READ || g.fd >= 0)) {
      int n;
      if (dir == DIR_READ) {
        n = native_read(&g, rbuf, size, off);
      } else {
        ssize_t w = pwrite_full(g.fd, wbuf, size, off);
        n = w < 0 ? -errno : (int)w;
      }
      if (n >= 0) {
        if ((size_t)n < size && round < SERVE_ROUNDS) ht_refund(&m->handles, fi->fh, dir, (int64_t)(size - (size_t)n), 0);
        return n;
      }
      if (round < SERVE_ROUNDS) ht_refund(&m->handles, fi->fh, dir, (int64_t)size, 1);
      if (!atomic_load(&m->report_errors)) return n;
    }
    request_t r = {.op = dir == DIR_READ ? OP_READ : OP_WRITE, .path = path, .out = rbuf, .data = wbuf, .size = size,
                   .offset = off, .fh = fi->fh};
    int result = cross(m, &r);
    if (result != SERVE_NATIVE || round == SERVE_ROUNDS) return result == SERVE_NATIVE ? -EIO : result;
  }
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  return native_io(current_mount(), DIR_READ, path, buf, NULL, size, off, fi);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  return native_io(current_mount(), DIR_WRITE, path, NULL, buf, size, off, fi);
}

static int op_statfs(const char *path, struct statvfs *sv) {
  request_t r = {.op = OP_STATFS, .path = path, .sv = sv};
  return cross(current_mount(), &r);
}

static int op_flush(const char *path, struct fuse_file_info *fi) {
  mount_t *m = current_mount();
  if (ht_flush_noop(&m->handles, fi->fh)) return 0;
  request_t r = {.op = OP_FLUSH, .path = path, .fh = fi->fh};
  return cross(m, &r);
}

static int op_release(const char *path, struct fuse_file_info *fi) {
  mount_t *m = current_mount();
  if (fi->fh & OWN_FH_BIT) {
    void *owner = NULL;
    if (ht_remove(&m->handles, fi->fh, NULL, &owner)) free(owner);
    return 0;
  }
  request_t r = {.op = OP_RELEASE, .path = path, .fh = fi->fh};
  return cross(m, &r);
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  if (fi->fh & OWN_FH_BIT) return 0;  // read-only, nothing written
  request_t r = {.op = OP_FSYNC, .path = path, .flags = datasync, .fh = fi->fh};
  return cross(current_mount(), &r);
}

static int op_setxattr(const char *path, const char *name, const char *value, size_t size, int flags) {
  request_t r = {.op = OP_SETXATTR, .path = path, .name = name, .data = value, .size = size, .flags = flags};
  return cross(current_mount(), &r);
}

/** getxattr / listxattr below the root: 1 when the backend must answer instead. */
static int native_xattr(mount_t *m, const char *path, const char *name, char *out, size_t size, int *result) {
  const char *base;
  int owned;
  int dir = below_parent(m->root_fd, path, &base, &owned);
  if (dir < 0) return 1;
  char proc[PATH_MAX];
  int r = below_proc_path(dir, base, proc, sizeof proc);
  if (r == 0) {
    ssize_t n = name ? lgetxattr(proc, name, out, size) : llistxattr(proc, out, size);
    r = n >= 0 ? (int)n : -errno;
  }
  if (owned) close(dir);
  *result = r;
  // "No such attribute" is an answer (the kernel asks for security.capability before writes).
  return r < 0 && r != -ENODATA && atomic_load(&m->report_errors);
}

static int op_getxattr(const char *path, const char *name, char *value, size_t size) {
  mount_t *m = current_mount();
  int result;
  if (native_root(m) && !native_xattr(m, path, name, value, size, &result)) return result;
  request_t r = {.op = OP_GETXATTR, .path = path, .name = name, .out = value, .size = size};
  return cross(m, &r);
}

static int op_listxattr(const char *path, char *list, size_t size) {
  mount_t *m = current_mount();
  int result;
  if (native_root(m) && !native_xattr(m, path, NULL, list, size, &result)) return result;
  request_t r = {.op = OP_LISTXATTR, .path = path, .out = list, .size = size};
  return cross(m, &r);
}

static int op_removexattr(const char *path, const char *name) {
  request_t r = {.op = OP_REMOVEXATTR, .path = path, .name = name};
  return cross(current_mount(), &r);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  request_t r = {.op = OP_READDIR, .path = path, .dirbuf = buf, .filler = filler};
  return cross(current_mount(), &r);
}

static int op_access(const char *path, int mask) {
  (void)path;
  (void)mask;
  return 0;  // default_permissions: the kernel checks; without it the backend decides per operation
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  (void)fi;
  mount_t *m = current_mount();
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  double times[2];
  for (int i = 0; i < 2; i++) {
    times[i] = tv[i].tv_nsec == UTIME_OMIT ? OMIT_MS : ts_ms(tv[i].tv_nsec == UTIME_NOW ? &now : &tv[i]);
  }
  request_t r = {.op = OP_UTIMENS, .path = path, .atime = times[0], .mtime = times[1]};
  int result = cross(m, &r);
  if (result == 0 && native_root(m)) {
    // The backend said yes (to the microsecond): set the caller's own times, to the nanosecond.
    const char *base;
    int owned;
    int dir = below_parent(m->root_fd, path, &base, &owned);
    if (dir >= 0) {
      if (utimensat(dir, base, tv, AT_SYMLINK_NOFOLLOW) != 0) {
        // The backend's microsecond times stand.
      }
      if (owned) close(dir);
    }
  }
  return result;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  mount_t *m = current_mount();
  // Inode numbers from getattr (a directory passed through: hard links share one), else libfuse's own.
  cfg->use_ino = m->use_ino;
  cfg->readdir_ino = 0;
  // Interrupts reach the request's thread as INTR_SIGNAL (its no-op handler is set at mount).
  cfg->intr = 1;
  cfg->intr_signal = INTR_SIGNAL;
  if (m->max_write) conn->max_write = m->max_write;
  if (m->max_readahead) conn->max_readahead = m->max_readahead;
  conn->max_read = m->max_read;  // must equal the max_read mount option (0: none given)
  // With it, libfuse 3 asks for attributes before reads to see whether cached pages are stale;
  // opens drop the cache anyway (no keep_cache), so reads need no extra round trip.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  return m;
}

static const struct fuse_operations operations = {
  .getattr = op_getattr,
  .readlink = op_readlink,
  .mknod = op_mknod,
  .mkdir = op_mkdir,
  .unlink = op_unlink,
  .rmdir = op_rmdir,
  .symlink = op_symlink,
  .rename = op_rename,
  .link = op_link,
  .chmod = op_chmod,
  .chown = op_chown,
  .truncate = op_truncate,
  .open = op_open,
  .read = op_read,
  .write = op_write,
  .statfs = op_statfs,
  .flush = op_flush,
  .release = op_release,
  .fsync = op_fsync,
  .setxattr = op_setxattr,
  .getxattr = op_getxattr,
  .listxattr = op_listxattr,
  .removexattr = op_removexattr,
  .readdir = op_readdir,
  .init = op_init,
  .access = op_access,
  .create = op_create,
  .utimens = op_utimens,
};

/* ---------- the loop and the end of a mount ---------- */

static void *loop_main(void *arg) {
  mount_t *m = arg;
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  if (cfg) {
    fuse_loop_cfg_set_max_threads(cfg, m->max_threads);
    fuse_loop_cfg_set_idle_threads(cfg, 8);
  }
  fuse_loop_mt(m->fuse, cfg);
  if (cfg) fuse_loop_cfg_destroy(cfg);
  atomic_store(&m->ended, 1);
  pthread_mutex_lock(&m->lock);
  if (!m->queue_gone) napi_call_threadsafe_function(m->tsfn, END_MARK, napi_tsfn_nonblocking);
  pthread_mutex_unlock(&m->lock);
  return NULL;
}

static napi_env finish_env;
static void release_owner(void *owner) {
  if (finish_env) napi_delete_reference(finish_env, (napi_ref)owner);
}

/** Main thread, once the loop has ended: releases the session and tells JavaScript. */
static void finish(napi_env env, mount_t *m) {
  if (m->finished) return;
  m->finished = 1;
  atomic_store(&m->closing, 1);
  abort_all(env, m);
  pthread_join(m->loop, NULL);
  fuse_unmount(m->fuse);
  fuse_destroy(m->fuse);
  m->fuse = NULL;
  finish_env = env;
  ht_destroy(&m->handles, release_owner);
  finish_env = NULL;
  atomic_store(&m->prefetch_on, 0);
  pf_clear(&m->prefetch);
  ls_destroy(&m->listed);
  if (m->root_fd >= 0) close(m->root_fd);
  m->root_fd = -1;
}

/* ---------- N-API ---------- */

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "shylock-fuse: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static mount_t *mount_arg(napi_env env, napi_value v) {
  mount_t *m = NULL;
  if (napi_get_value_external(env, v, (void **)&m) != napi_ok || !m) {
    napi_throw_type_error(env, NULL, "shylock-fuse: not a mount");
    return NULL;
  }
  return m;
}

static napi_value get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = 0; i < want; i++) argv[i] = undef;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return undef;
}

static double arg_num(napi_env env, napi_value v, double fallback) {
  double d;
  return napi_get_value_double(env, v, &d) == napi_ok ? d : fallback;
}

static napi_value throw_errno(napi_env env, const char *what, int e) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_value message, error, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, e, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

// mount(mountpoint, options: string[], dispatch, io: Float64Array, maxThreads, maxWrite, maxReadahead, maxRead, useIno)
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  get_args(env, info, 9, argv);
  char *mnt = string_bytes(env, argv[0], NULL);
  if (!mnt) {
    napi_throw_type_error(env, NULL, "shylock-fuse: the mountpoint must be a string");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array ||
      length < IO_SIZE) {
    free(mnt);
    napi_throw_type_error(env, NULL, "shylock-fuse: io must be a Float64Array of 32");
    return NULL;
  }
  mount_t *m = calloc(1, sizeof *m);
  if (!m || ht_init(&m->handles) != 0) {
    free(mnt);
    free(m);
    return throw_errno(env, "shylock-fuse: mount", ENOMEM);
  }
  m->mountpoint = mnt;
  m->io = data;
  m->root_fd = -1;
  m->max_threads = (unsigned)arg_num(env, argv[4], 256);
  m->max_write = (unsigned)arg_num(env, argv[5], 0);
  m->max_readahead = (unsigned)arg_num(env, argv[6], 0);
  m->max_read = (unsigned)arg_num(env, argv[7], 0);
  bool use_ino = false;
  napi_get_value_bool(env, argv[8], &use_ino);
  m->use_ino = use_ino;
  pthread_mutex_init(&m->lock, NULL);
  pf_init(&m->prefetch);
  ls_init(&m->listed);
  napi_create_reference(env, argv[3], 1, &m->io_ref);

  // The interrupt signal must not end the process: a handler that does nothing (its delivery
  // only breaks a FUSE thread's wait), without SA_RESTART.
  struct sigaction intr_action;
  memset(&intr_action, 0, sizeof intr_action);
  intr_action.sa_handler = on_intr_signal;
  sigemptyset(&intr_action.sa_mask);
  sigaction(INTR_SIGNAL, &intr_action, NULL);
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  fuse_opt_add_arg(&args, "shylock");
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, argv[1], i, &item);
    char *opt = string_bytes(env, item, NULL);
    if (opt) {
      fuse_opt_add_arg(&args, "-o");
      fuse_opt_add_arg(&args, opt);
      free(opt);
    }
  }
  m->fuse = fuse_new(&args, &operations, sizeof operations, m);
  fuse_opt_free_args(&args);
  if (!m->fuse) {
    ht_destroy(&m->handles, NULL);
    pf_destroy(&m->prefetch);
    ls_destroy(&m->listed);
    free(mnt);
    free(m);
    napi_throw_error(env, "EINVAL", "shylock-fuse: libfuse refused the mount options (see the message above)");
    return NULL;
  }
  if (fuse_mount(m->fuse, mnt) != 0) {
    fuse_destroy(m->fuse);
    ht_destroy(&m->handles, NULL);
    pf_destroy(&m->prefetch);
    ls_destroy(&m->listed);
    free(mnt);
    free(m);
    napi_throw_error(env, "EIO", "shylock-fuse: the kernel refused the mount (see the message above)");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "shylock-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, m, queue_finalized, m, call_js, &m->tsfn) != napi_ok) {
    fuse_unmount(m->fuse);
    fuse_destroy(m->fuse);
    napi_throw_error(env, "EIO", "shylock-fuse: could not create the request queue");
    return NULL;
  }
  // The FUSE threads take no signals: Node's main thread keeps them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int err = pthread_create(&m->loop, NULL, loop_main, m);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    napi_release_threadsafe_function(m->tsfn, napi_tsfn_abort);
    fuse_unmount(m->fuse);
    fuse_destroy(m->fuse);
    return throw_errno(env, "shylock-fuse: starting the FUSE thread", err);
  }
  napi_value ext;
  CHECK(napi_create_external(env, m, NULL, NULL, &ext));
  return ext;
}

// reply(mount, id, result, a, b)
static napi_value js_reply(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  napi_value undef = get_args(env, info, 5, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  uint32_t id;
  int32_t result;
  if (napi_get_value_uint32(env, argv[1], &id) != napi_ok || napi_get_value_int32(env, argv[2], &result) != napi_ok) {
    napi_throw_type_error(env, NULL, "shylock-fuse: reply(mount, id, result)");
    return NULL;
  }
  request_t *r = claim(m, id);
  if (!r) return undef;  // too late: the mount closed, or the request was answered
  switch (r->op) {
    case OP_GETATTR:
    case OP_FGETATTR:
      if (result == 0) {
        fill_stat(r->st, m->io + IO_STAT);
        // The content came with the stat: kept a moment for the read-only open that follows.
        void *data;
        size_t length;
        napi_typedarray_type type;
        if (r->op == OP_GETATTR && atomic_load(&m->prefetch_on) && S_ISREG(r->st->st_mode) &&
            napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL) == napi_ok && type == napi_uint8_array &&
            (off_t)length == r->st->st_size) {
          pf_put(&m->prefetch, r->path, r->st, data, length, pf_now() + PREFETCH_NS);
        }
      }
      break;
    case OP_STATFS:
      if (result == 0) {
        const double *v = m->io + IO_STATFS;
        memset(r->sv, 0, sizeof *r->sv);
        r->sv->f_bsize = (unsigned long)v[0];
        r->sv->f_frsize = (unsigned long)v[1];
        r->sv->f_blocks = (fsblkcnt_t)v[2];
        r->sv->f_bfree = (fsblkcnt_t)v[3];
        r->sv->f_bavail = (fsblkcnt_t)v[4];
        r->sv->f_files = (fsfilcnt_t)v[5];
        r->sv->f_ffree = (fsfilcnt_t)v[6];
        r->sv->f_favail = (fsfilcnt_t)v[7];
        r->sv->f_fsid = (unsigned long)v[8];
        r->sv->f_flag = (unsigned long)v[9];
        r->sv->f_namemax = (unsigned long)v[10];
      }
      break;
    case OP_READ:
      // The handler read into libfuse's own buffer (lent); a count past it is cut to it.
      if (result > (int32_t)r->size) result = (int32_t)r->size;
      break;
    case OP_READDIR:
      if (result == 0) {
        uint32_t n = 0;
        napi_get_array_length(env, argv[3], &n);
        double *stats = NULL;
        size_t statCount = 0;
        napi_typedarray_type type;
        if (napi_get_typedarray_info(env, argv[4], &type, &statCount, (void **)&stats, NULL, NULL) != napi_ok ||
            type != napi_float64_array || statCount < (size_t)n * STAT_FIELDS) {
          stats = NULL;
        }
        // Inode numbers shown (a directory passed through) and none given: each entry's comes
        // from the directory below the root, so readdir's d_ino matches stat's st_ino.
        int dir = -1, owned = 0;
        if (!stats && m->use_ino && native_root(m)) {
          size_t len = strlen(r->path);
          char *probe = malloc(len + 3);
          if (probe) {
            memcpy(probe, r->path, len);
            memcpy(probe + len, "/x", 3);
            const char *base;
            dir = below_parent(m->root_fd, probe, &base, &owned);
            free(probe);
          }
        }
        uint64_t now = pf_now();
        for (uint32_t i = 0; i < n && result == 0; i++) {
          napi_value item;
          napi_get_element(env, argv[3], i, &item);
          char *entry = string_bytes(env, item, NULL);
          if (!entry) continue;
          struct stat st;
          int have = 0;
          if (stats) {
            fill_stat(&st, stats + (size_t)i * STAT_FIELDS);
            have = 1;
            if (i >= 2) ls_put(&m->listed, r->path, entry, &st, now);
          } else if (dir >= 0) {
            have = fstatat(dir, entry, &st, AT_SYMLINK_NOFOLLOW) == 0;
          }
          // Plain entries: libfuse 3.14 drops "." and ".." given with FUSE_FILL_DIR_PLUS.
          if (r->filler(r->dirbuf, entry, have ? &st : NULL, 0, 0)) result = -ENOMEM;
          free(entry);
        }
        if (dir >= 0 && owned) close(dir);
      }
      break;
    case OP_READLINK:
      if (result == 0) {
        size_t len;
        char *target = string_bytes(env, argv[3], &len);
        if (!target) {
          result = -EIO;
          break;
        }
        if (r->size > 0) {
          size_t copy = len < r->size - 1 ? len : r->size - 1;
          memcpy(r->out, target, copy);
          r->out[copy] = '\0';
        }
        free(target);
      }
      break;
    case OP_GETXATTR:
    case OP_LISTXATTR:
      if (result == 0) {
        void *data;
        size_t length;
        napi_valuetype t;
        napi_typeof(env, argv[3], &t);
        if (t == napi_undefined || t == napi_null) {
          result = -ENODATA;
        } else if (napi_get_buffer_info(env, argv[3], &data, &length) != napi_ok) {
          result = -EIO;
        } else if (r->size == 0) {
          result = (int32_t)length;
        } else if (length > r->size) {
          result = -ERANGE;
        } else {
          memcpy(r->out, data, length);
          result = (int32_t)length;
        }
      }
      break;
    case OP_OPEN:
    case OP_CREATE:
      if (result >= 0) {
        r->fi->fh = (uint64_t)(result & ~DIRECT_IO_BIT);
        if (result & DIRECT_IO_BIT) r->fi->direct_io = 1;
        result = 0;
      }
      break;
    default:
      break;
  }
  take_back(env, r);
  answer(r, result);
  return undef;
}

// stop(mount): every parked request is answered, later ones answer EIO; the process may exit.
static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_value undef = get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  atomic_store(&m->closing, 1);
  abort_all(env, m);
  if (!m->finished) napi_unref_threadsafe_function(env, m->tsfn);
  return undef;
}

// detach(path): a lazy umount2 (root); 0 or -errno.
static napi_value js_detach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  char *path = string_bytes(env, argv[0], NULL);
  if (!path) {
    napi_throw_type_error(env, NULL, "shylock-fuse: detach(path)");
    return NULL;
  }
  int r = umount2(path, MNT_DETACH) == 0 ? 0 : -errno;
  free(path);
  return num(env, r);
}

static napi_value js_ended(napi_env env, napi_callback_info info) {
  napi_value argv[1], v;
  get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  napi_get_boolean(env, atomic_load(&m->ended), &v);
  return v;
}

static napi_value boolean(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static int64_t credit_arg(napi_env env, napi_value v) {
  double d = arg_num(env, v, CREDIT_UNLIMITED);
  return d < 0 ? CREDIT_UNLIMITED : (int64_t)d;
}

// fastOpen(mount, fh, fd, flags, readBytes, readOps, writeBytes, writeOps)
static napi_value js_fast_open(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  get_args(env, info, 8, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return boolean(env, 0);
  handle_t h = {0};
  h.fh = (uint64_t)arg_num(env, argv[1], 0);
  h.fd = (int)arg_num(env, argv[2], -1);
  h.flags = (unsigned)arg_num(env, argv[3], 0);
  h.credit[DIR_READ][0] = credit_arg(env, argv[4]);
  h.credit[DIR_READ][1] = credit_arg(env, argv[5]);
  h.credit[DIR_WRITE][0] = credit_arg(env, argv[6]);
  h.credit[DIR_WRITE][1] = credit_arg(env, argv[7]);
  if (h.fd < 0) return boolean(env, 0);
  int err;
  void *old = ht_put(&m->handles, &h, &err);
  if (old) napi_delete_reference(env, (napi_ref)old);
  return boolean(env, err == 0);
}

// fastOpenMemory(mount, fh, bytes, flags, readBytes, readOps)
static napi_value js_fast_open_memory(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  get_args(env, info, 6, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return boolean(env, 0);
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    return boolean(env, 0);
  }
  handle_t h = {0};
  h.fh = (uint64_t)arg_num(env, argv[1], 0);
  h.fd = -1;
  h.bytes = data;
  h.length = length;
  h.flags = ((unsigned)arg_num(env, argv[3], 0) & H_FLUSH_NOOP) | H_READ;
  h.credit[DIR_READ][0] = credit_arg(env, argv[4]);
  h.credit[DIR_READ][1] = credit_arg(env, argv[5]);
  napi_ref ref;
  if (napi_create_reference(env, argv[2], 1, &ref) != napi_ok) return boolean(env, 0);
  h.owner = ref;
  int err;
  void *old = ht_put(&m->handles, &h, &err);
  if (old) napi_delete_reference(env, (napi_ref)old);
  if (err) napi_delete_reference(env, ref);
  return boolean(env, err == 0);
}

// fastStreamOpen(mount, fh): fh's reads take the bytes fed with fastStreamFeed first
static napi_value js_fast_stream_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return boolean(env, 0);
  handle_t h = {0};
  h.fh = (uint64_t)arg_num(env, argv[1], 0);
  h.fd = -1;
  h.flags = H_STREAM;
  int err;
  void *old = ht_put(&m->handles, &h, &err);
  if (old) napi_delete_reference(env, (napi_ref)old);
  return boolean(env, err == 0);
}

/** A Uint8Array's bytes (a Buffer is one); 0 when v is none. */
static int bytes_of(napi_env env, napi_value v, const uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = p;
  return 1;
}

// fastStreamFeed(mount, fh, lines, skip) → the bytes fh then holds, or -1 (no stream, no memory,
// not lines): each line (a Uint8Array) copied with a newline after it, the first one without its
// first skip bytes (already read), into one chunk. The copy is made before the table is locked.
static napi_value js_fast_stream_feed(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, 4, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  uint32_t count = 0;
  bool is_array = false;
  if (m->finished || napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[2], &count) != napi_ok || count == 0) {
    return num(env, -1);
  }
  size_t skip = (size_t)arg_num(env, argv[3], 0);
  struct piece {
    const uint8_t *data;
    size_t length;
  } *pieces = malloc(count * sizeof *pieces);
  if (!pieces) return num(env, -1);
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value line;
    if (napi_get_element(env, argv[2], i, &line) != napi_ok || !bytes_of(env, line, &pieces[i].data, &pieces[i].length)) {
      free(pieces);
      return num(env, -1);
    }
    total += pieces[i].length + 1;
  }
  if (skip > pieces[0].length) skip = pieces[0].length;
  stream_chunk_t *c = stream_chunk_new(total - skip);
  if (!c) {
    free(pieces);
    return num(env, -1);
  }
  uint8_t *at = c->data;
  for (uint32_t i = 0; i < count; i++) {
    size_t from = i == 0 ? skip : 0;
    memcpy(at, pieces[i].data + from, pieces[i].length - from);
    at += pieces[i].length - from;
    *at++ = '\n';
  }
  free(pieces);
  size_t queued = 0;
  int ok = ht_stream_append(&m->handles, (uint64_t)arg_num(env, argv[1], 0), c, &queued);
  if (ok != 1) free(c);
  return num(env, ok == 1 ? (double)queued : -1);
}

// fastStreamQueued(mount, fh) → the bytes fed to fh and not read yet
static napi_value js_fast_stream_queued(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return num(env, 0);
  return num(env, (double)ht_stream_queued(&m->handles, (uint64_t)arg_num(env, argv[1], 0)));
}

static napi_value int_array(napi_env env, const int64_t *v, int n) {
  napi_value a;
  napi_create_array_with_length(env, (size_t)n, &a);
  for (int i = 0; i < n; i++) napi_set_element(env, a, (uint32_t)i, num(env, (double)v[i]));
  return a;
}

// fastCredit(mount, fh, write, bytes, ops) → [bytes, ops] | null
static napi_value js_fast_credit(napi_env env, napi_callback_info info) {
  napi_value argv[5], nul;
  get_args(env, info, 5, argv);
  napi_get_null(env, &nul);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return nul;
  bool write = false;
  napi_get_value_bool(env, argv[2], &write);
  int64_t out[2];
  int dir = write ? DIR_WRITE : DIR_READ;
  if (!ht_credit(&m->handles, (uint64_t)arg_num(env, argv[1], 0), dir, (int64_t)arg_num(env, argv[3], 0),
                 (int64_t)arg_num(env, argv[4], 0), out)) {
    return nul;
  }
  return int_array(env, out, 2);
}

// fastClose(mount, fh) → [readBytes, readOps, writeBytes, writeOps] | null
static napi_value js_fast_close(napi_env env, napi_callback_info info) {
  napi_value argv[2], nul;
  get_args(env, info, 2, argv);
  napi_get_null(env, &nul);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (m->finished) return nul;
  int64_t credit[2][2];
  void *owner = NULL;
  if (!ht_remove(&m->handles, (uint64_t)arg_num(env, argv[1], 0), credit, &owner)) return nul;
  if (owner) napi_delete_reference(env, (napi_ref)owner);
  int64_t flat[4] = {credit[0][0], credit[0][1], credit[1][0], credit[1][1]};
  return int_array(env, flat, 4);
}

// fastPrefetch(mount, on): contents given with stats are kept for the opens that follow (or none, and those kept go)
static napi_value js_fast_prefetch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  napi_value undef = get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  if (m->finished) return undef;
  atomic_store(&m->prefetch_on, on);
  if (!on) pf_clear(&m->prefetch);
  return undef;
}

// fastPrefetchCounts(mount) → [contents kept, contents taken by an open] since the mount began
static napi_value js_fast_prefetch_counts(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  pthread_mutex_lock(&m->prefetch.lock);
  int64_t counts[2] = {(int64_t)m->prefetch.offered, (int64_t)m->prefetch.taken};
  pthread_mutex_unlock(&m->prefetch.lock);
  return int_array(env, counts, 2);
}

// fastForget(mount): drops the contents kept for opens (something changed through the mount)
static napi_value js_fast_forget(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_value undef = get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (!m->finished) pf_clear(&m->prefetch);
  return undef;
}

// fastListed(mount, ms): the stats a listing gives answer lookups of its names for ms (0: never)
static napi_value js_fast_listed(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  napi_value undef = get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  double ms = 0;
  napi_get_value_double(env, argv[1], &ms);
  if (!m->finished) ls_set_ttl(&m->listed, ms > 0 ? (uint64_t)(ms * 1e6) : 0);
  return undef;
}

// fastForgetListed(mount): drops the listed stats (something changed)
static napi_value js_fast_forget_listed(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_value undef = get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (!m->finished) ls_clear(&m->listed);
  return undef;
}

static napi_value js_fast_revoke(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_value undef = get_args(env, info, 1, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  if (!m->finished) ht_revoke(&m->handles);
  return undef;
}

// fastRoot(mount, dir) → true when getattr and xattr reads are answered below dir
static napi_value js_fast_root(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  char *dir = string_bytes(env, argv[1], NULL);
  if (!dir || m->finished) {
    free(dir);
    return boolean(env, 0);
  }
  int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0) return boolean(env, 0);
  // openat2 needs Linux 5.6: without it, getattr stays with the backend.
  const char *base;
  int owned;
  int probe = below_parent(fd, "/x/y", &base, &owned);
  if (probe == -ENOSYS) {
    close(fd);
    return boolean(env, 0);
  }
  if (probe >= 0 && owned) close(probe);
  if (m->root_fd >= 0) close(m->root_fd);
  m->root_fd = fd;
  return boolean(env, 1);
}

static napi_value js_fast_report_errors(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  atomic_store(&m->report_errors, on ? 1 : 0);
  return boolean(env, 1);
}

/** A path argument: a string (surrogate escapes are bytes) or a Buffer of its bytes. */
static char *path_arg(napi_env env, napi_value v) {
  bool isBuffer = false;
  napi_is_buffer(env, v, &isBuffer);
  if (!isBuffer) return string_bytes(env, v, NULL);
  void *data;
  size_t length;
  napi_get_buffer_info(env, v, &data, &length);
  char *out = malloc(length + 1);
  if (!out) return NULL;
  memcpy(out, data, length);
  out[length] = '\0';
  return out;
}

// hostXattr(op 0 get | 1 set | 2 list | 3 remove, path, name, value: Buffer, flags) → Buffer | number
static napi_value js_host_xattr(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  get_args(env, info, 5, argv);
  int op = (int)arg_num(env, argv[0], -1);
  char *path = path_arg(env, argv[1]);
  char *name = op == 2 ? NULL : string_bytes(env, argv[2], NULL);
  napi_value result = NULL;
  if (!path || (op != 2 && !name)) {
    result = num(env, -EINVAL);
    goto done;
  }
  if (op == 0 || op == 2) {
    ssize_t n;
    for (;;) {
      n = op == 0 ? lgetxattr(path, name, NULL, 0) : llistxattr(path, NULL, 0);
      if (n < 0) break;
      void *out;
      napi_value buf;
      napi_create_buffer(env, (size_t)n, &out, &buf);
      ssize_t got = n == 0 ? 0 : (op == 0 ? lgetxattr(path, name, out, (size_t)n) : llistxattr(path, out, (size_t)n));
      if (got < 0 && errno == ERANGE) continue;  // it grew meanwhile
      if (got < 0) {
        n = -1;
        break;
      }
      if (got < n) {
        napi_value start = num(env, 0), end = num(env, (double)got), slice;
        napi_value fn;
        napi_get_named_property(env, buf, "subarray", &fn);
        napi_value args[2] = {start, end};
        napi_call_function(env, buf, fn, 2, args, &slice);
        buf = slice;
      }
      result = buf;
      break;
    }
    if (n < 0) result = num(env, -errno);
  } else if (op == 1) {
    void *data = NULL;
    size_t length = 0;
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL) != napi_ok) length = 0;
    int r = lsetxattr(path, name, data ? data : "", length, (int)arg_num(env, argv[4], 0));
    result = num(env, r == 0 ? 0 : -errno);
  } else if (op == 3) {
    result = num(env, lremovexattr(path, name) == 0 ? 0 : -errno);
  } else {
    result = num(env, -EINVAL);
  }
done:
  free(path);
  free(name);
  return result;
}

typedef struct {
  mount_t *m;
  size_t count;
  char **paths;
} invalidation_t;

static void *invalidate_main(void *arg) {
  invalidation_t *inv = arg;
  for (size_t i = 0; i < inv->count; i++) {
    pthread_mutex_lock(&inv->m->lock);
    int live = !inv->m->finished && !atomic_load(&inv->m->ended);
    pthread_mutex_unlock(&inv->m->lock);
    if (live) fuse_invalidate_path(inv->m->fuse, inv->paths[i]);  // -ENOENT: nothing cached
    free(inv->paths[i]);
  }
  free(inv->paths);
  free(inv);
  return NULL;
}

// invalidate(mount, paths: string[]): drops the kernel's cached pages and attributes of these
// files, on a thread of its own (the kernel may need a FUSE thread to answer meanwhile).
static napi_value js_invalidate(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  napi_value undef = get_args(env, info, 2, argv);
  mount_t *m = mount_arg(env, argv[0]);
  if (!m) return NULL;
  uint32_t n = 0;
  if (m->finished || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0) return undef;
  invalidation_t *inv = calloc(1, sizeof *inv);
  char **paths = calloc(n, sizeof *paths);
  if (!inv || !paths) {
    free(inv);
    free(paths);
    return undef;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, argv[1], i, &item);
    char *p = string_bytes(env, item, NULL);
    if (p) paths[inv->count++] = p;
  }
  inv->m = m;
  inv->paths = paths;
  pthread_t t;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int err = pthread_create(&t, NULL, invalidate_main, inv);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    for (size_t i = 0; i < inv->count; i++) free(paths[i]);
    free(paths);
    free(inv);
  } else {
    pthread_detach(t);
  }
  return undef;
}

// hostMknod(path, mode, dev) → 0 or -errno: mknod(2) of any node (FIFO, socket, device, file),
// with exactly the permission bits given (the caller's umask was applied by the kernel already).
static napi_value js_host_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  char *path = path_arg(env, argv[0]);
  if (!path) return num(env, -EINVAL);
  mode_t mode = (mode_t)arg_num(env, argv[1], 0);
  dev_t dev = (dev_t)arg_num(env, argv[2], 0);
  int r = mknod(path, mode, dev) == 0 ? 0 : -errno;
  // This process's umask took bits the caller asked for: give them back.
  if (r == 0 && chmod(path, mode & 07777) != 0) r = -errno;
  free(path);
  return num(env, r);
}

// version() → the libfuse version this binding runs on, e.g. 314
static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, fuse_version());
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
    {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
    {"detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL},
    {"ended", NULL, js_ended, NULL, NULL, NULL, napi_default, NULL},
    {"fastOpen", NULL, js_fast_open, NULL, NULL, NULL, napi_default, NULL},
    {"fastOpenMemory", NULL, js_fast_open_memory, NULL, NULL, NULL, napi_default, NULL},
    {"fastCredit", NULL, js_fast_credit, NULL, NULL, NULL, napi_default, NULL},
    {"fastStreamOpen", NULL, js_fast_stream_open, NULL, NULL, NULL, napi_default, NULL},
    {"fastStreamFeed", NULL, js_fast_stream_feed, NULL, NULL, NULL, napi_default, NULL},
    {"fastStreamQueued", NULL, js_fast_stream_queued, NULL, NULL, NULL, napi_default, NULL},
    {"fastClose", NULL, js_fast_close, NULL, NULL, NULL, napi_default, NULL},
    {"fastRevoke", NULL, js_fast_revoke, NULL, NULL, NULL, napi_default, NULL},
    {"fastRoot", NULL, js_fast_root, NULL, NULL, NULL, napi_default, NULL},
    {"fastReportErrors", NULL, js_fast_report_errors, NULL, NULL, NULL, napi_default, NULL},
    {"invalidate", NULL, js_invalidate, NULL, NULL, NULL, napi_default, NULL},
    {"hostXattr", NULL, js_host_xattr, NULL, NULL, NULL, napi_default, NULL},
    {"hostMknod", NULL, js_host_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"fastPrefetch", NULL, js_fast_prefetch, NULL, NULL, NULL, napi_default, NULL},
    {"fastForget", NULL, js_fast_forget, NULL, NULL, NULL, napi_default, NULL},
    {"fastListed", NULL, js_fast_listed, NULL, NULL, NULL, napi_default, NULL},
    {"fastForgetListed", NULL, js_fast_forget_listed, NULL, NULL, NULL, napi_default, NULL},
    {"fastPrefetchCounts", NULL, js_fast_prefetch_counts, NULL, NULL, NULL, napi_default, NULL},
    {"version", NULL, js_version, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
