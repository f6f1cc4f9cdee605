// The native handle table: open files whose reads and writes the FUSE threads serve themselves,
// on a descriptor (fd) or from bytes in memory, while they hold prepaid QoS credit.
#ifndef SHYLOCK_HANDLES_H
#define SHYLOCK_HANDLES_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/**
 * H_OWNED: owner is a content_t (prefetch.h) the table frees, not something of JavaScript's.
 * H_STREAM: a stream's bytes fed by JavaScript (ht_stream_feed), read in order whatever the offset.
 */
enum { H_READ = 1, H_WRITE = 2, H_FLUSH_NOOP = 4, H_OWNED = 8, H_STREAM = 16 };
enum { DIR_READ = 0, DIR_WRITE = 1 };
/** Credit that is never spent. */
#define CREDIT_UNLIMITED (-1)

/** A piece of a stream's bytes fed by JavaScript: data[off..len) not read yet. */
typedef struct stream_chunk {
  struct stream_chunk *next;
  size_t off, len;
  uint8_t data[];
} stream_chunk_t;

typedef struct handle {
  uint64_t fh;
  int fd;                /* -1 for a value in memory */
  const uint8_t *bytes;  /* a value in memory (kept alive by its owner until removed) */
  size_t length;
  void *owner;           /* what keeps bytes alive: released by whoever removes the entry */
  unsigned flags;
  int64_t credit[2][2];  /* [direction][0 bytes, 1 ops]; CREDIT_UNLIMITED or >= 0 */
  stream_chunk_t *head;  /* H_STREAM: the chunks fed and not read, in order */
  stream_chunk_t *tail;
  size_t queued;         /* H_STREAM: their bytes not read */
  struct handle *next;
} handle_t;

typedef struct {
  pthread_mutex_t lock;
  handle_t **buckets;
  size_t nbuckets;
  size_t count;
} handle_table_t;

/** What a FUSE thread may do with a handle for one request. */
typedef struct {
  int fd;
  const uint8_t *bytes;
  size_t length;
} grant_t;

int ht_init(handle_table_t *t);
/** Frees every entry; owners are handed to release (may be NULL), H_OWNED ones freed. */
void ht_destroy(handle_table_t *t, void (*release)(void *owner));
/** Adds (or replaces) an entry, copied; returns the replaced entry's owner, or NULL. -1 in *err on ENOMEM. */
void *ht_put(handle_table_t *t, const handle_t *h, int *err);
/** Removes fh; 1 with its credit left and owner when it was there. */
int ht_remove(handle_table_t *t, uint64_t fh, int64_t credit[2][2], void **owner);
/**
 * A request of size bytes in direction dir: 1 (and the grant) when fh is registered for it and
 * holds the credit (one op and size bytes, spent now), else 0.
 */
int ht_take(handle_table_t *t, uint64_t fh, int dir, size_t size, grant_t *grant);
/** The grant of fh in direction dir without spending credit (the request was paid otherwise); 1 when registered for it. */
int ht_grant(handle_table_t *t, uint64_t fh, int dir, grant_t *grant);
/** Gives back bytes (and ops) a granted request did not use. */
void ht_refund(handle_table_t *t, uint64_t fh, int dir, int64_t bytes, int64_t ops);
/** Adds credit; 1 with what the direction then holds, 0 when fh is not registered. */
int ht_credit(handle_table_t *t, uint64_t fh, int dir, int64_t bytes, int64_t ops, int64_t out[2]);
/** Every limited credit drops to 0 (the rules changed). */
void ht_revoke(handle_table_t *t);
/** The descriptor of fh, or -1. */
int ht_fd(handle_table_t *t, uint64_t fh);
/** The stat of an H_OWNED handle's content into st; 1 when fh is one. */
int ht_owned_stat(handle_table_t *t, uint64_t fh, struct stat *st);
/** A chunk for len bytes (its data filled by the caller, outside the table's lock), or NULL. */
stream_chunk_t *stream_chunk_new(size_t len);
/**
 * Appends chunk c (its len bytes) to the stream fh, which then owns it: 1 with the bytes fh then
 * holds in *queued; 0 when fh is no stream (c stays the caller's).
 */
int ht_stream_append(handle_table_t *t, uint64_t fh, stream_chunk_t *c, size_t *queued);
/** Appends a copy of n bytes to the stream fh; 1 with the bytes it then holds in *queued, 0 when fh is no stream, -ENOMEM. */
int ht_stream_feed(handle_table_t *t, uint64_t fh, const uint8_t *bytes, size_t n, size_t *queued);
/** Reads up to size bytes of the stream fh into out: how many, or -1 when fh is no stream or holds none. */
int ht_stream_read(handle_table_t *t, uint64_t fh, char *out, size_t size);
/** The bytes the stream fh holds (0 when it is no stream). */
size_t ht_stream_queued(handle_table_t *t, uint64_t fh);
/** 1 when fh's flush has nothing to do. */
int ht_flush_noop(handle_table_t *t, uint64_t fh);

#endif
