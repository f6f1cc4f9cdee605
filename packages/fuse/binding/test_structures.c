// C tests of the binding's data structures, run under AddressSanitizer and UBSan by
// test/binding-c.test.ts: the name codec, the handle table and its credit under concurrent
// FUSE threads, and paths below a root. Prints "N passed, N failed".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "below.h"
#include "handles.h"
#include "names.h"
#include "listed.h"
#include "prefetch.h"

static int passed, failed;
#define CHECK(cond)                                                \
  do {                                                             \
    if (cond) passed++;                                            \
    else {                                                         \
      failed++;                                                    \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                              \
  } while (0)

static void roundtrip(const char *bytes, size_t len, size_t want_units) {
  uint16_t units[256];
  char back[768];
  size_t n = name_decode(bytes, len, units);
  CHECK(n == want_units);
  size_t m = name_encode(units, n, back);
  CHECK(m == len && memcmp(back, bytes, len) == 0);
}

static void test_names(void) {
  roundtrip("plain", 5, 5);
  roundtrip("caf\xc3\xa9", 5, 4);                      // é
  roundtrip("caf\xe9", 4, 4);                          // a Latin-1 byte: one escape
  roundtrip("\xf0\x9f\x98\x80", 4, 2);                 // an emoji: a surrogate pair
  roundtrip("\xed\xa0\x80", 3, 3);                     // an encoded surrogate is not UTF-8
  roundtrip("\xc0\xaf", 2, 2);                         // an overlong '/'
  roundtrip("\xf4\x90\x80\x80", 4, 4);                 // above U+10FFFF
  roundtrip("a\xe2\x82", 3, 3);                        // a sequence cut short
  CHECK(name_is_utf8("caf\xc3\xa9", 5));
  CHECK(!name_is_utf8("caf\xe9", 4));
  uint16_t units[2];
  name_decode("\xff", 1, units);
  CHECK(units[0] == 0xdcff);
  // A lone high surrogate from JavaScript is not a byte: U+FFFD.
  uint16_t lone[1] = {0xd800};
  char out[4];
  CHECK(name_encode(lone, 1, out) == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0);
}

static handle_table_t table;
enum { THREADS = 4, TAKES = 20000 };

static void *taker(void *arg) {
  (void)arg;
  long granted = 0;
  for (int i = 0; i < TAKES; i++) {
    grant_t g;
    uint64_t fh = (uint64_t)(i % 8) + 1;
    if (ht_take(&table, fh, DIR_READ, 100, &g)) {
      granted++;
      if (i % 3 == 0) ht_refund(&table, fh, DIR_READ, 40, 0);  // a short read
    }
  }
  return (void *)granted;
}

static void test_handles(void) {
  CHECK(ht_init(&table) == 0);
  // More entries than buckets: the table grows.
  for (uint64_t fh = 1; fh <= 1000; fh++) {
    handle_t h = {.fh = fh, .fd = (int)fh, .flags = H_READ, .credit = {{CREDIT_UNLIMITED, CREDIT_UNLIMITED}, {0, 0}}};
    int err;
    CHECK(ht_put(&table, &h, &err) == NULL && err == 0);
  }
  CHECK(ht_fd(&table, 777) == 777);
  for (uint64_t fh = 9; fh <= 1000; fh++) CHECK(ht_remove(&table, fh, NULL, NULL) == 1);
  CHECK(ht_remove(&table, 9, NULL, NULL) == 0);
  CHECK(ht_fd(&table, 9) == -1);

  grant_t g;
  CHECK(!ht_take(&table, 1, DIR_WRITE, 1, &g));  // registered for reads only
  // Eight handles with 1,000,000 bytes and 5,000 ops each, taken by 4 threads at once.
  for (uint64_t fh = 1; fh <= 8; fh++) {
    handle_t h = {.fh = fh, .fd = 3, .flags = H_READ, .credit = {{1000000, 5000}, {0, 0}}};
    int err;
    ht_put(&table, &h, &err);
  }
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, taker, NULL);
  long granted = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    granted += (long)r;
  }
  // Ops bound the grants: 8 × 5,000; every grant is paid exactly once.
  CHECK(granted == 8 * 5000);
  int64_t spent_bytes = 0, left[2][2];
  for (uint64_t fh = 1; fh <= 8; fh++) {
    int64_t c[2];
    CHECK(ht_credit(&table, fh, DIR_READ, 0, 0, c) == 1);
    CHECK(c[1] == 0);
    spent_bytes += 1000000 - c[0];
  }
  CHECK(spent_bytes > 0 && spent_bytes <= 8 * 5000 * 100);
  CHECK(ht_credit(&table, 1, DIR_READ, 500, 2, left[0]) == 1 && left[0][1] == 2);
  ht_revoke(&table);
  CHECK(!ht_take(&table, 1, DIR_READ, 1, &g));
  int64_t credit[2][2];
  void *owner = (void *)1;
  CHECK(ht_remove(&table, 1, credit, &owner) == 1 && credit[0][0] == 0 && owner == NULL);
  ht_destroy(&table, NULL);
}

/** A stream's fed bytes come out in order across reads of any size, then none; a plain handle has none. */
static void test_stream_queue(void) {
  CHECK(ht_init(&table) == 0);
  handle_t h = {.fh = 5, .fd = -1, .flags = H_STREAM};
  int err;
  ht_put(&table, &h, &err);
  handle_t plain = {.fh = 6, .fd = 3, .flags = H_READ};
  ht_put(&table, &plain, &err);
  char out[16];
  size_t queued = 0;
  CHECK(ht_stream_read(&table, 5, out, sizeof out) == -1);  // nothing fed yet: JavaScript answers
  CHECK(ht_stream_feed(&table, 5, (const uint8_t *)"one\ntwo\n", 8, &queued) == 1 && queued == 8);
  CHECK(ht_stream_read(&table, 5, out, 5) == 5 && memcmp(out, "one\nt", 5) == 0);
  // Fed again while 3 bytes wait: they stay first.
  CHECK(ht_stream_feed(&table, 5, (const uint8_t *)"three\n", 6, &queued) == 1 && queued == 9);
  CHECK(ht_stream_queued(&table, 5) == 9);
  CHECK(ht_stream_read(&table, 5, out, sizeof out) == 9 && memcmp(out, "wo\nthree\n", 9) == 0);
  CHECK(ht_stream_read(&table, 5, out, sizeof out) == -1 && ht_stream_queued(&table, 5) == 0);
  CHECK(ht_stream_feed(&table, 6, (const uint8_t *)"x", 1, &queued) == 0 && ht_stream_read(&table, 6, out, 1) == -1);
  CHECK(ht_stream_feed(&table, 5, (const uint8_t *)"left", 4, &queued) == 1);
  CHECK(ht_remove(&table, 5, NULL, NULL) == 1);  // frees what was left
  ht_destroy(&table, NULL);
}

static void test_below(void) {
  char root[] = "/tmp/shylock-below-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/a", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/out", root);
  CHECK(symlink("/etc", path) == 0);
  int fd = open(root, O_PATH | O_DIRECTORY);
  const char *base;
  int owned;
  int dir = below_parent(fd, "/a/file", &base, &owned);
  CHECK(dir >= 0 && owned && strcmp(base, "file") == 0);
  if (dir >= 0 && owned) close(dir);
  dir = below_parent(fd, "/top", &base, &owned);
  CHECK(dir == fd && !owned && strcmp(base, "top") == 0);
  CHECK(below_parent(fd, "/", &base, &owned) == fd && strcmp(base, ".") == 0);
  CHECK(below_parent(fd, "/out/passwd", &base, &owned) == -EXDEV);  // a symlink out of the root
  CHECK(below_parent(fd, "/missing/x", &base, &owned) == -ENOENT);
  char proc[64];
  CHECK(below_proc_path(7, "name", proc, sizeof proc) == 0 && strcmp(proc, "/proc/self/fd/7/name") == 0);
  CHECK(below_proc_path(7, "name", proc, 10) == -ENAMETOOLONG);

  // Deeper than PATH_MAX: 20 names of 255 bytes, opened in steps; no descriptor left behind.
  int probe_fd = dup(0);
  close(probe_fd);
  char name[256];
  memset(name, 'd', 255);
  name[255] = '\0';
  char deep[20 * 256 + 16] = "";
  int at = dup(fd);
  for (int i = 0; i < 20; i++) {
    CHECK(mkdirat(at, name, 0755) == 0);
    int next = openat(at, name, O_PATH | O_DIRECTORY);
    close(at);
    at = next;
    strcat(deep, "/");
    strcat(deep, name);
  }
  CHECK(symlinkat("/etc", at, "out") == 0);
  close(at);
  char target[sizeof deep + 16];
  snprintf(target, sizeof target, "%s/file", deep);
  dir = below_parent(fd, target, &base, &owned);
  struct stat st;
  CHECK(dir >= 0 && owned && strcmp(base, "file") == 0 && fstatat(dir, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
  if (dir >= 0 && owned) close(dir);
  snprintf(target, sizeof target, "%s/out/passwd", deep);
  CHECK(below_parent(fd, target, &base, &owned) == -EXDEV);  // out through a symlink, 5 KiB down
  snprintf(target, sizeof target, "%s/missing/x", deep);
  CHECK(below_parent(fd, target, &base, &owned) == -ENOENT);
  int after = dup(0);
  CHECK(after == probe_fd);
  close(after);
  close(fd);
  snprintf(path, sizeof path, "rm -rf '%s'", root);
  CHECK(system(path) == 0);
}

/** An expiry that does not come during the test (ns). */
#define LATER 60000000000ull

static void test_prefetch(void) {
  prefetch_t p;
  pf_init(&p);
  struct stat st = {0};
  st.st_mode = S_IFREG | 0644;
  st.st_size = 999;  // the content's length wins
  uint64_t now = pf_now();
  CHECK(pf_put(&p, "/a", &st, "hello", 5, now + LATER) == 0);
  CHECK(pf_put(&p, "/a", &st, "again", 5, now + LATER) == 0);  // the same path: replaced
  CHECK(pf_take(&p, "/b", now) == NULL);
  content_t *c = pf_take(&p, "/a", now);
  CHECK(c && c->length == 5 && memcmp(c->bytes, "again", 5) == 0 && c->st.st_size == 5 && S_ISREG(c->st.st_mode));
  free(c);
  CHECK(pf_take(&p, "/a", now) == NULL);  // taken once
  CHECK(pf_put(&p, "/old", &st, "x", 1, now + 10) == 0);
  CHECK(pf_take(&p, "/old", now + 10) == NULL);  // expired
  CHECK(pf_put(&p, "/empty", &st, NULL, 0, now + LATER) == 0);
  c = pf_take(&p, "/empty", now);
  CHECK(c && c->length == 0);
  free(c);
  // More paths than slots: the newest are kept, nothing leaks (ASan).
  char name[32];
  for (int i = 0; i < 3 * PREFETCH_SLOTS; i++) {
    snprintf(name, sizeof name, "/k%d", i);
    CHECK(pf_put(&p, name, &st, name, strlen(name), now + LATER) == 0);
  }
  snprintf(name, sizeof name, "/k%d", 3 * PREFETCH_SLOTS - 1);
  c = pf_take(&p, name, now);
  CHECK(c && c->length == strlen(name));
  free(c);
  pf_clear(&p);
  CHECK(pf_take(&p, "/k0", now) == NULL);
  // Caps: one content over 1 MiB, or more than 16 MiB kept at once, is not kept.
  uint8_t *big = calloc(1, PREFETCH_MAX_ENTRY + 1);
  CHECK(pf_put(&p, "/big", &st, big, PREFETCH_MAX_ENTRY + 1, now + LATER) == -EFBIG);
  for (unsigned i = 0; i < PREFETCH_MAX_TOTAL / PREFETCH_MAX_ENTRY; i++) {
    snprintf(name, sizeof name, "/m%u", i);
    CHECK(pf_put(&p, name, &st, big, PREFETCH_MAX_ENTRY, now + LATER) == 0);
  }
  CHECK(pf_put(&p, "/one-more", &st, big, PREFETCH_MAX_ENTRY, now + LATER) == -EFBIG);
  CHECK(pf_put(&p, "/m0", &st, big, PREFETCH_MAX_ENTRY, now + LATER) == 0);  // replaces its own
  c = pf_take(&p, "/m1", now);
  CHECK(c != NULL);
  free(c);
  CHECK(pf_put(&p, "/one-more", &st, big, PREFETCH_MAX_ENTRY, now + LATER) == 0);  // room again
  pf_clear(&p);
  CHECK(p.total == 0);
  CHECK(p.offered > 0 && p.taken > 0 && p.taken < p.offered);
  free(big);
  // A handle over taken content: the table frees it, with its stat at hand.
  handle_table_t t;
  CHECK(ht_init(&t) == 0);
  CHECK(pf_put(&p, "/h", &st, "abc", 3, now + LATER) == 0);
  c = pf_take(&p, "/h", now);
  handle_t h = {0};
  h.fh = 1ull << 62;
  h.fd = -1;
  h.bytes = c->bytes;
  h.length = c->length;
  h.owner = c;
  h.flags = H_READ | H_OWNED;
  int err;
  ht_put(&t, &h, &err);
  struct stat out;
  CHECK(err == 0 && ht_owned_stat(&t, h.fh, &out) == 1 && out.st_size == 3);
  CHECK(ht_owned_stat(&t, 7, &out) == 0);
  ht_destroy(&t, NULL);
  pf_destroy(&p);
}

static void test_listed(void) {
  listed_t t;
  ls_init(&t);
  struct stat st = {0}, got;
  st.st_size = 42;
  uint64_t now = 1000;
  CHECK(ls_put(&t, "/", "a", &st, now) == 0);  // no ttl yet: nothing kept
  CHECK(!ls_get(&t, "/a", &got, now));
  ls_set_ttl(&t, 500);
  CHECK(ls_put(&t, "/", "a", &st, now) == 0);
  CHECK(ls_put(&t, "/dir", "b", &st, now) == 0);
  CHECK(ls_get(&t, "/a", &got, now + 10) && got.st_size == 42);
  CHECK(ls_get(&t, "/dir/b", &got, now + 10));
  CHECK(!ls_get(&t, "/dir", &got, now + 10));
  CHECK(!ls_get(&t, "/a", &got, now + 500));  // expired
  st.st_size = 7;
  CHECK(ls_put(&t, "/", "a", &st, now + 600) == 0);  // listed again: replaced
  CHECK(ls_get(&t, "/a", &got, now + 700) && got.st_size == 7 && t.count == 2);
  ls_clear(&t);
  CHECK(!ls_get(&t, "/a", &got, now + 700) && !ls_get(&t, "/dir/b", &got, now + 700));
  // Many names: the buckets grow, every one is found.
  char name[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof name, "f%d", i);
    CHECK(ls_put(&t, "/many", name, &st, now) == 0);
  }
  int found = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof name, "/many/f%d", i);
    found += ls_get(&t, name, &got, now + 1);
  }
  CHECK(found == 5000);
  ls_destroy(&t);
}

int main(void) {
  test_listed();
  test_prefetch();
  test_names();
  test_handles();
  test_stream_queue();
  test_below();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
