// Stats of the entries of recent listings, for the lookups that follow a readdir (`ls -l`): a
// lookup of a listed name is answered on the FUSE thread, without crossing to JavaScript, while
// the listing is fresh. What JavaScript's own listing cache holds, and dropped when it drops it
// (any change through the mount, a change the backend reports, a file opened for writing).
#ifndef SHYLOCK_LISTED_H
#define SHYLOCK_LISTED_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/** Most entries kept; past it the table starts over. */
#define LISTED_MAX 200000u

typedef struct listed_node {
  struct listed_node *next;
  uint64_t expires;    /* CLOCK_MONOTONIC ns */
  uint64_t generation; /* the table's generation when kept */
  struct stat st;
  char path[];
} listed_node_t;

typedef struct {
  pthread_mutex_t lock;
  listed_node_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
  uint64_t generation; /* bumped by ls_clear: older entries are gone */
  uint64_t ttl_ns;     /* 0: nothing kept */
} listed_t;

void ls_init(listed_t *t);
void ls_destroy(listed_t *t);
/** How long a listed stat answers lookups (0: never). */
void ls_set_ttl(listed_t *t, uint64_t ttl_ns);
/** Keeps dir/name's stat (dir "/" or a path without a trailing slash) until now + ttl; 0 or -ENOMEM. */
int ls_put(listed_t *t, const char *dir, const char *name, const struct stat *st, uint64_t now);
/** 1 with *st filled when path was listed and is still fresh at now, else 0. */
int ls_get(listed_t *t, const char *path, struct stat *st, uint64_t now);
/** Drops every entry (in O(1): a new generation). */
void ls_clear(listed_t *t);

#endif
