#include "handles.h"
#include "prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket_of(const handle_table_t *t, uint64_t fh) {
  return (size_t)((fh * 0x9e3779b97f4a7c15ull) >> 32) & (t->nbuckets - 1);
}

static handle_t **find(handle_table_t *t, uint64_t fh) {
  handle_t **p = &t->buckets[bucket_of(t, fh)];
  while (*p && (*p)->fh != fh) p = &(*p)->next;
  return p;
}

static void free_chunks(stream_chunk_t *c) {
  while (c) {
    stream_chunk_t *next = c->next;
    free(c);
    c = next;
  }
}

int ht_init(handle_table_t *t) {
  t->nbuckets = 256;
  t->count = 0;
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  if (!t->buckets) return -ENOMEM;
  pthread_mutex_init(&t->lock, NULL);
  return 0;
}

void ht_destroy(handle_table_t *t, void (*release)(void *owner)) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    handle_t *h = t->buckets[i];
    while (h) {
      handle_t *next = h->next;
      if (h->flags & H_OWNED)
        free(h->owner);
      else if (release && h->owner)
        release(h->owner);
      free_chunks(h->head);
      free(h);
      h = next;
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  t->count = 0;
  pthread_mutex_destroy(&t->lock);
}

/** Doubles the buckets when the table is full (lock held); stays as is without memory. */
static void grow(handle_table_t *t) {
  size_t n = t->nbuckets * 2;
  handle_t **b = calloc(n, sizeof *b);
  if (!b) return;
  handle_t **old = t->buckets;
  size_t oldn = t->nbuckets;
  t->buckets = b;
  t->nbuckets = n;
  for (size_t i = 0; i < oldn; i++) {
    handle_t *h = old[i];
    while (h) {
      handle_t *next = h->next;
      size_t k = bucket_of(t, h->fh);
      h->next = b[k];
      b[k] = h;
      h = next;
    }
  }
  free(old);
}

void *ht_put(handle_table_t *t, const handle_t *h, int *err) {
  handle_t *copy = malloc(sizeof *copy);
  *err = 0;
  if (!copy) {
    *err = -ENOMEM;
    return NULL;
  }
  *copy = *h;
  void *replaced = NULL;
  pthread_mutex_lock(&t->lock);
  handle_t **p = find(t, h->fh);
  if (*p) {
    handle_t *old = *p;
    copy->next = old->next;
    *p = copy;
    replaced = old->owner;
    free_chunks(old->head);
    free(old);
  } else {
    if (t->count >= t->nbuckets) {
      grow(t);
      p = find(t, h->fh);
    }
    copy->next = NULL;
    *p = copy;
    t->count++;
  }
  pthread_mutex_unlock(&t->lock);
  return replaced;
}

int ht_remove(handle_table_t *t, uint64_t fh, int64_t credit[2][2], void **owner) {
  pthread_mutex_lock(&t->lock);
  handle_t **p = find(t, fh);
  handle_t *h = *p;
  if (h) {
    *p = h->next;
    t->count--;
  }
  pthread_mutex_unlock(&t->lock);
  if (!h) return 0;
  if (credit) memcpy(credit, h->credit, sizeof h->credit);
  if (owner) *owner = h->owner;
  free_chunks(h->head);
  free(h);
  return 1;
}

stream_chunk_t *stream_chunk_new(size_t len) {
  stream_chunk_t *c = malloc(sizeof *c + len);
  if (c) {
    c->next = NULL;
    c->off = 0;
    c->len = len;
  }
  return c;
}

int ht_stream_append(handle_table_t *t, uint64_t fh, stream_chunk_t *c, size_t *queued) {
  int ok = 0;
  c->next = NULL;
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h && (h->flags & H_STREAM)) {
    if (c->len > c->off) {
      if (h->tail)
        h->tail->next = c;
      else
        h->head = c;
      h->tail = c;
      h->queued += c->len - c->off;
    } else {
      free(c);
    }
    *queued = h->queued;
    ok = 1;
  }
  pthread_mutex_unlock(&t->lock);
  return ok;
}

int ht_stream_feed(handle_table_t *t, uint64_t fh, const uint8_t *bytes, size_t n, size_t *queued) {
  stream_chunk_t *c = stream_chunk_new(n);
  if (!c) return -ENOMEM;
  memcpy(c->data, bytes, n);
  int ok = ht_stream_append(t, fh, c, queued);
  if (ok != 1) free(c);
  return ok;
}

int ht_stream_read(handle_table_t *t, uint64_t fh, char *out, size_t size) {
  int n = -1;
  stream_chunk_t *done = NULL, **done_tail = &done;
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h && (h->flags & H_STREAM) && h->queued > 0) {
    size_t count = 0;
    while (count < size && h->head) {
      stream_chunk_t *c = h->head;
      size_t take = c->len - c->off;
      if (take > size - count) take = size - count;
      memcpy(out + count, c->data + c->off, take);
      c->off += take;
      count += take;
      if (c->off == c->len) {
        // Read to its end: freed after the lock, so an idle reader keeps no memory.
        h->head = c->next;
        if (!h->head) h->tail = NULL;
        c->next = NULL;
        *done_tail = c;
        done_tail = &c->next;
      }
    }
    h->queued -= count;
    n = (int)count;
  }
  pthread_mutex_unlock(&t->lock);
  free_chunks(done);
  return n;
}

size_t ht_stream_queued(handle_table_t *t, uint64_t fh) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  size_t n = h && (h->flags & H_STREAM) ? h->queued : 0;
  pthread_mutex_unlock(&t->lock);
  return n;
}

static int affords(const int64_t c[2], size_t size) {
  return (c[0] == CREDIT_UNLIMITED || c[0] >= (int64_t)size) && (c[1] == CREDIT_UNLIMITED || c[1] >= 1);
}

int ht_take(handle_table_t *t, uint64_t fh, int dir, size_t size, grant_t *grant) {
  int ok = 0;
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h && (h->flags & (dir == DIR_READ ? H_READ : H_WRITE)) && affords(h->credit[dir], size)) {
    int64_t *c = h->credit[dir];
    if (c[0] != CREDIT_UNLIMITED) c[0] -= (int64_t)size;
    if (c[1] != CREDIT_UNLIMITED) c[1] -= 1;
    grant->fd = h->fd;
    grant->bytes = h->bytes;
    grant->length = h->length;
    ok = 1;
  }
  pthread_mutex_unlock(&t->lock);
  return ok;
}

int ht_grant(handle_table_t *t, uint64_t fh, int dir, grant_t *grant) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  int ok = h && (h->flags & (dir == DIR_READ ? H_READ : H_WRITE));
  if (ok) {
    grant->fd = h->fd;
    grant->bytes = h->bytes;
    grant->length = h->length;
  }
  pthread_mutex_unlock(&t->lock);
  return ok;
}

int ht_credit(handle_table_t *t, uint64_t fh, int dir, int64_t bytes, int64_t ops, int64_t out[2]) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h) {
    int64_t *c = h->credit[dir];
    if (c[0] != CREDIT_UNLIMITED && bytes > 0) c[0] += bytes;
    if (c[1] != CREDIT_UNLIMITED && ops > 0) c[1] += ops;
    out[0] = c[0];
    out[1] = c[1];
  }
  pthread_mutex_unlock(&t->lock);
  return h != NULL;
}

void ht_refund(handle_table_t *t, uint64_t fh, int dir, int64_t bytes, int64_t ops) {
  int64_t ignored[2];
  ht_credit(t, fh, dir, bytes, ops, ignored);
}

void ht_revoke(handle_table_t *t) {
  pthread_mutex_lock(&t->lock);
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (handle_t *h = t->buckets[i]; h; h = h->next) {
      for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 2; k++) {
          if (h->credit[d][k] != CREDIT_UNLIMITED) h->credit[d][k] = 0;
        }
      }
    }
  }
  pthread_mutex_unlock(&t->lock);
}

int ht_fd(handle_table_t *t, uint64_t fh) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  int fd = h ? h->fd : -1;
  pthread_mutex_unlock(&t->lock);
  return fd;
}

int ht_flush_noop(handle_table_t *t, uint64_t fh) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  int noop = h ? (h->flags & H_FLUSH_NOOP) != 0 : 0;
  pthread_mutex_unlock(&t->lock);
  return noop;
}

int ht_owned_stat(handle_table_t *t, uint64_t fh, struct stat *st) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  int owned = h && (h->flags & H_OWNED);
  if (owned) *st = ((const content_t *)h->owner)->st;
  pthread_mutex_unlock(&t->lock);
  return owned;
}
