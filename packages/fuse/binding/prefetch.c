#include "prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t pf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void drop(prefetch_t *p, prefetch_entry_t *e) {
  if (e->content) p->total -= e->content->length;
  free(e->path);
  free(e->content);
  e->path = NULL;
  e->content = NULL;
  e->expires = 0;
  e->kept = 0;
}

void pf_init(prefetch_t *p) {
  memset(p->slots, 0, sizeof p->slots);
  p->next = 0;
  p->total = 0;
  p->offered = p->taken = 0;
  pthread_mutex_init(&p->lock, NULL);
}

void pf_destroy(prefetch_t *p) {
  pf_clear(p);
  pthread_mutex_destroy(&p->lock);
}

int pf_put(prefetch_t *p, const char *path, const struct stat *st, const void *bytes, size_t length, uint64_t expires) {
  if (length > PREFETCH_MAX_ENTRY) return -EFBIG;
  content_t *c = malloc(sizeof *c + length);
  char *copy = strdup(path);
  if (!c || !copy) {
    free(c);
    free(copy);
    return -ENOMEM;
  }
  c->st = *st;
  c->st.st_size = (off_t)length;
  c->length = length;
  if (length) memcpy(c->bytes, bytes, length);
  uint64_t now = pf_now();
  pthread_mutex_lock(&p->lock);
  // Expired entries and the same path's go first; then a free slot, else the next in turn.
  prefetch_entry_t *slot = NULL;
  int again = 0;  // the same path's content was kept moments ago: the kernel looking again, not a new offer
  for (int i = 0; i < PREFETCH_SLOTS; i++) {
    prefetch_entry_t *e = &p->slots[i];
    int same = e->path && strcmp(e->path, path) == 0;
    again |= same && now - e->kept < PREFETCH_SAME_BURST;
    if (e->path && (same || e->expires <= now)) drop(p, e);
    if (!e->path && !slot) slot = e;
  }
  if (p->total + length > PREFETCH_MAX_TOTAL) {
    pthread_mutex_unlock(&p->lock);
    free(c);
    free(copy);
    return -EFBIG;
  }
  if (!slot) {
    slot = &p->slots[p->next];
    p->next = (p->next + 1) % PREFETCH_SLOTS;
  }
  drop(p, slot);
  slot->path = copy;
  slot->content = c;
  slot->expires = expires;
  slot->kept = now;
  p->total += length;
  if (!again) p->offered++;
  pthread_mutex_unlock(&p->lock);
  return 0;
}

content_t *pf_take(prefetch_t *p, const char *path, uint64_t now) {
  content_t *taken = NULL;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < PREFETCH_SLOTS; i++) {
    prefetch_entry_t *e = &p->slots[i];
    if (!e->path || strcmp(e->path, path) != 0) continue;
    if (e->expires > now) {
      taken = e->content;
      p->total -= taken->length;
      p->taken++;
      e->content = NULL;
    }
    drop(p, e);
    break;
  }
  pthread_mutex_unlock(&p->lock);
  return taken;
}

void pf_clear(prefetch_t *p) {
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < PREFETCH_SLOTS; i++) drop(p, &p->slots[i]);
  pthread_mutex_unlock(&p->lock);
}
