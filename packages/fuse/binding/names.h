// Names as bytes: a path the kernel sends is any bytes but '/' and NUL, while JavaScript strings
// are UTF-16. Valid UTF-8 decodes as usual; each byte that is not part of a valid sequence becomes
// a lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"), and encodes back to that byte.
#ifndef SHYLOCK_NAMES_H
#define SHYLOCK_NAMES_H
#include <stddef.h>
#include <stdint.h>

/** 1 when in[0..len) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
int name_is_utf8(const char *in, size_t len);

/** Decodes len bytes into out (room for len units); returns the number of UTF-16 units. */
size_t name_decode(const char *in, size_t len, uint16_t *out);

/**
 * Encodes n UTF-16 units into out (room for 3 * n bytes); returns the byte count. A lone
 * surrogate U+DC80..U+DCFF becomes its byte, any other lone surrogate U+FFFD.
 */
size_t name_encode(const uint16_t *in, size_t n, char *out);

#endif
