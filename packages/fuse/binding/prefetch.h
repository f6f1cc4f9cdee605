// Contents fetched by a lookup, for the open that follows it: a backend whose stat had the whole
// value anyway (a key/value store's get) hands it over with the stat, and a read-only open of
// that path soon after is answered on the FUSE thread from a copy, without JavaScript. Entries
// live a short while (the caller says until when) and are dropped by any change made through
// the mount.
#ifndef SHYLOCK_PREFETCH_H
#define SHYLOCK_PREFETCH_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/** A file's content and stat, one allocation: what a handle opened from it owns. */
typedef struct {
  struct stat st;
  size_t length;
  uint8_t bytes[];
} content_t;

#define PREFETCH_SLOTS 64
/** The largest content kept (one FUSE request), and the most kept at once. */
#define PREFETCH_MAX_ENTRY (1u << 20)
#define PREFETCH_MAX_TOTAL (16u << 20)
/** A path kept again this soon is the kernel looking again in one burst, not a new offer (ns). */
#define PREFETCH_SAME_BURST 20000000ull

typedef struct {
  char *path;
  content_t *content;
  uint64_t expires; /* CLOCK_MONOTONIC ns */
  uint64_t kept;    /* when it was kept */
} prefetch_entry_t;

typedef struct {
  pthread_mutex_t lock;
  prefetch_entry_t slots[PREFETCH_SLOTS];
  unsigned next; /* the slot taken when none is free */
  size_t total;  /* content bytes kept */
  uint64_t offered, taken; /* contents kept (not counting one that replaced its own path's), and taken by an open */
} prefetch_t;

void pf_init(prefetch_t *p);
void pf_destroy(prefetch_t *p);
/**
 * Keeps copies of path, st (its size set to length) and bytes until expires; 0, -EFBIG when the
 * content is over PREFETCH_MAX_ENTRY or would take the total over PREFETCH_MAX_TOTAL (nothing
 * kept), or -ENOMEM.
 */
int pf_put(prefetch_t *p, const char *path, const struct stat *st, const void *bytes, size_t length, uint64_t expires);
/** Takes path's entry if it has not expired at now: the caller owns the content (free()), or NULL. */
content_t *pf_take(prefetch_t *p, const char *path, uint64_t now);
/** Drops every entry. */
void pf_clear(prefetch_t *p);
/** Monotonic nanoseconds. */
uint64_t pf_now(void);

#endif
