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

static void drop(prefetch_entry_t *e) {
  free(e->path);
  free(e->content);
  e->path = NULL;
  e->content = NULL;
  e->expires = 0;
}

void pf_init(prefetch_t *p) {
  memset(p->slots, 0, sizeof p->slots);
  p->next = 0;
  pthread_mutex_init(&p->lock, NULL);
}

void pf_destroy(prefetch_t *p) {
  pf_clear(p);
  pthread_mutex_destroy(&p->lock);
}

int pf_put(prefetch_t *p, const char *path, const struct stat *st, const void *bytes, size_t length, uint64_t expires) {
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
  // The same path's entry, else a free or expired slot, else the next in turn.
  prefetch_entry_t *slot = NULL;
  for (int i = 0; i < PREFETCH_SLOTS && !slot; i++) {
    if (p->slots[i].path && strcmp(p->slots[i].path, path) == 0) slot = &p->slots[i];
  }
  for (int i = 0; i < PREFETCH_SLOTS && !slot; i++) {
    if (!p->slots[i].path || p->slots[i].expires <= now) slot = &p->slots[i];
  }
  if (!slot) {
    slot = &p->slots[p->next];
    p->next = (p->next + 1) % PREFETCH_SLOTS;
  }
  drop(slot);
  slot->path = copy;
  slot->content = c;
  slot->expires = expires;
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
      e->content = NULL;
    }
    drop(e);
    break;
  }
  pthread_mutex_unlock(&p->lock);
  return taken;
}

void pf_clear(prefetch_t *p) {
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < PREFETCH_SLOTS; i++) drop(&p->slots[i]);
  pthread_mutex_unlock(&p->lock);
}
