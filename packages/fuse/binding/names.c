#include "names.h"

/** Length of the valid UTF-8 sequence at in[0..left), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *in, size_t left, uint32_t *cp) {
  unsigned char c = in[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t min;
  if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80, *cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800, *cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000, *cp = c & 0x07;
  else return 0;
  if (left < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((in[i] & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (in[i] & 0x3f);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return n;
}

int name_is_utf8(const char *in, size_t len) {
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0;
  while (i < len) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t n = utf8_sequence(p + i, len - i, &cp);
    if (n == 0) return 0;
    i += n;
  }
  return 1;
}

size_t name_decode(const char *in, size_t len, uint16_t *out) {
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, o = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = utf8_sequence(p + i, len - i, &cp);
    if (n == 0) {
      out[o++] = (uint16_t)(0xdc00 + p[i]);  // a stray byte: 0x80..0xff → U+DC80..U+DCFF
      i++;
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      out[o++] = (uint16_t)(0xd800 + (cp >> 10));
      out[o++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
      i += n;
    } else {
      out[o++] = (uint16_t)cp;
      i += n;
    }
  }
  return o;
}

static size_t put_utf8(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

size_t name_encode(const uint16_t *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t u = in[i];
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < n && in[i + 1] >= 0xdc00 && in[i + 1] <= 0xdfff) {
      uint32_t cp = 0x10000 + (((uint32_t)u - 0xd800) << 10) + (in[i + 1] - 0xdc00);
      o += put_utf8(cp, out + o);
      i++;
    } else if (u >= 0xdc80 && u <= 0xdcff) {
      out[o++] = (char)(u - 0xdc00);
    } else if (u >= 0xd800 && u <= 0xdfff) {
      o += put_utf8(0xfffd, out + o);
    } else {
      o += put_utf8(u, out + o);
    }
  }
  return o;
}
