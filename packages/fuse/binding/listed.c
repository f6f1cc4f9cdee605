#include "listed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void free_all(listed_t *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    listed_node_t *n = t->buckets[i];
    while (n) {
      listed_node_t *next = n->next;
      free(n);
      n = next;
    }
    t->buckets[i] = NULL;
  }
  t->count = 0;
}

void ls_init(listed_t *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
}

void ls_destroy(listed_t *t) {
  pthread_mutex_lock(&t->lock);
  if (t->buckets) free_all(t);
  free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = 0;
  pthread_mutex_unlock(&t->lock);
  pthread_mutex_destroy(&t->lock);
}

void ls_set_ttl(listed_t *t, uint64_t ttl_ns) {
  pthread_mutex_lock(&t->lock);
  t->ttl_ns = ttl_ns;
  t->generation++;
  pthread_mutex_unlock(&t->lock);
}

void ls_clear(listed_t *t) {
  pthread_mutex_lock(&t->lock);
  t->generation++;
  pthread_mutex_unlock(&t->lock);
}

/** Doubles the buckets (entries rehashed); 0 or -ENOMEM. Called with the lock held. */
static int grow(listed_t *t) {
  size_t n = t->nbuckets ? t->nbuckets * 2 : 1024;
  listed_node_t **b = calloc(n, sizeof *b);
  if (!b) return -ENOMEM;
  for (size_t i = 0; i < t->nbuckets; i++) {
    listed_node_t *node = t->buckets[i];
    while (node) {
      listed_node_t *next = node->next;
      size_t at = hash(node->path, strlen(node->path)) & (n - 1);
      node->next = b[at];
      b[at] = node;
      node = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
  return 0;
}

int ls_put(listed_t *t, const char *dir, const char *name, const struct stat *st, uint64_t now) {
  size_t dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
  size_t nl = strlen(name);
  pthread_mutex_lock(&t->lock);
  int result = 0;
  if (t->ttl_ns == 0) goto out;
  if (t->count >= LISTED_MAX) free_all(t);
  if (t->count >= t->nbuckets && (result = grow(t)) != 0) goto out;
  listed_node_t *node = malloc(sizeof *node + dl + 1 + nl + 1);
  if (!node) {
    result = -ENOMEM;
    goto out;
  }
  memcpy(node->path, dir, dl);
  node->path[dl] = '/';
  memcpy(node->path + dl + 1, name, nl + 1);
  node->st = *st;
  node->expires = now + t->ttl_ns;
  node->generation = t->generation;
  size_t at = hash(node->path, dl + 1 + nl) & (t->nbuckets - 1);
  // The same path listed again replaces its entry.
  for (listed_node_t **p = &t->buckets[at]; *p; p = &(*p)->next) {
    if (strcmp((*p)->path, node->path) == 0) {
      listed_node_t *old = *p;
      node->next = old->next;
      *p = node;
      free(old);
      goto out;
    }
  }
  node->next = t->buckets[at];
  t->buckets[at] = node;
  t->count++;
out:
  pthread_mutex_unlock(&t->lock);
  return result;
}

int ls_get(listed_t *t, const char *path, struct stat *st, uint64_t now) {
  int hit = 0;
  pthread_mutex_lock(&t->lock);
  if (t->ttl_ns && t->nbuckets) {
    size_t at = hash(path, strlen(path)) & (t->nbuckets - 1);
    for (listed_node_t *n = t->buckets[at]; n; n = n->next) {
      if (strcmp(n->path, path) == 0) {
        if (n->generation == t->generation && n->expires > now) {
          *st = n->st;
          hit = 1;
        }
        break;
      }
    }
  }
  pthread_mutex_unlock(&t->lock);
  return hit;
}
