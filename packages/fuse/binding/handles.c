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
      free(h->queue);
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
    free(old->queue);
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
  free(h->queue);
  free(h);
  return 1;
}

int ht_stream_feed(handle_table_t *t, uint64_t fh, const uint8_t *bytes, size_t n, size_t *queued) {
  int ok = 0;
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h && (h->flags & H_STREAM)) {
    size_t left = h->queue_len - h->queue_off;
    if (h->queue_off > 0) {
      memmove(h->queue, h->queue + h->queue_off, left);
      h->queue_off = 0;
      h->queue_len = left;
    }
    ok = 1;
    if (left + n > h->queue_cap) {
      size_t cap = left + n;
      uint8_t *grown = realloc(h->queue, cap);
      if (grown) {
        h->queue = grown;
        h->queue_cap = cap;
      } else {
        ok = -ENOMEM;
      }
    }
    if (ok == 1) {
      memcpy(h->queue + h->queue_len, bytes, n);
      h->queue_len += n;
    }
    *queued = h->queue_len - h->queue_off;
  }
  pthread_mutex_unlock(&t->lock);
  return ok;
}

int ht_stream_read(handle_table_t *t, uint64_t fh, char *out, size_t size) {
  int n = -1;
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  if (h && (h->flags & H_STREAM) && h->queue_off < h->queue_len) {
    size_t left = h->queue_len - h->queue_off;
    size_t count = size < left ? size : left;
    memcpy(out, h->queue + h->queue_off, count);
    h->queue_off += count;
    if (h->queue_off == h->queue_len) {
      // Read to the end: an idle reader keeps no memory.
      free(h->queue);
      h->queue = NULL;
      h->queue_off = h->queue_len = h->queue_cap = 0;
    }
    n = (int)count;
  }
  pthread_mutex_unlock(&t->lock);
  return n;
}

size_t ht_stream_queued(handle_table_t *t, uint64_t fh) {
  pthread_mutex_lock(&t->lock);
  handle_t *h = *find(t, fh);
  size_t n = h && (h->flags & H_STREAM) ? h->queue_len - h->queue_off : 0;
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
