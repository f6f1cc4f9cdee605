/**
 * Path handling shared by every backend. Backend paths are absolute POSIX paths (`/a/b`) relative
 * to the backend's root; {@link normalizePath} is the one gate they pass before a backend sees them.
 */
import { ShylockError } from './errors.js';

/** Longest path component, as on Linux (NAME_MAX). */
export const NAME_MAX = 255;
/**
 * The most bytes one path passed to a Linux system call may have, its NUL included (PATH_MAX).
 * Backend paths are not held to it: a mount's paths are as deep as its directories go (the
 * kernel limits each call's path, which is relative to a working directory, not the depth).
 */
export const PATH_MAX = 4096;

/**
 * Returns the canonical form of `path`: absolute, no `.` or empty segments, `..` resolved, no
 * trailing slash (the root is `/`). A relative path is taken from the root.
 *
 * @throws ShylockError `EINVAL` for a non-string, an empty string, a NUL byte, or a `..` that
 *   climbs above the root; `ENAMETOOLONG` for a component over 255 bytes.
 */
export function normalizePath(path: string, op = 'path'): string {
  if (typeof path === 'string' && isCanonical(path)) return path;
  if (typeof path !== 'string' || path.length === 0) {
    throw new ShylockError('EINVAL', `${op}: a path must be a non-empty string`, { op, path: String(path) });
  }
  if (path.includes('\0')) {
    throw new ShylockError('EINVAL', `${op}: the path contains a NUL byte`, { op, path });
  }
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) {
        throw new ShylockError('EINVAL', `${op}: "${path}" climbs above the root with ".."`, { op, path });
      }
      out.pop();
      continue;
    }
    if (nameByteLength(segment) > NAME_MAX) {
      throw new ShylockError('ENAMETOOLONG', `${op}: a name in "${path}" is longer than ${NAME_MAX} bytes`, {
        op,
        path,
      });
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}

/**
 * True when `path` is surely canonical already (the common case: every layer and backend passes
 * the adapter's paths through normalizePath again), by one scan: absolute, no empty segment, no
 * trailing slash, no NUL, no segment starting with `.`, none longer than 85 characters (so none
 * over 255 bytes in UTF-8). Anything else takes the full check.
 */
function isCanonical(path: string): boolean {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== 47) return false;
  if (n === 1) return true;
  if (path.charCodeAt(n - 1) === 47) return false;
  let segment = 0;
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === 47) {
      if (segment === 0) return false;
      segment = 0;
    } else if (c === 0 || (segment === 0 && c === 46) || ++segment > 85) {
      return false;
    }
  }
  return true;
}

/** The segments of a normalised path: `/a/b` → `['a', 'b']`, `/` → `[]`. */
export function splitPath(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/** Joins path pieces and normalises the result. */
export function joinPath(...parts: string[]): string {
  return normalizePath(parts.join('/'));
}

/** The parent of a normalised path; the root's parent is the root. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last segment of a normalised path; `''` for the root. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * True when `path` is `prefix` or lies under it, matching whole segments: `/a/b` is under `/a`,
 * `/ab` is not. Both paths must be normalised.
 */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}

/*
 * Names are bytes on Linux, strings here. A name that is not UTF-8 keeps its bytes in a string
 * the way Python's `surrogateescape` does: each byte that is not part of valid UTF-8 becomes a lone
 * surrogate U+DC80..U+DCFF. The FUSE adapter hands such names over; a backend that stores bytes
 * (a local directory) turns them back with {@link nameBytes}, one that stores text refuses them.
 */

const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** True when `name` carries bytes that are not UTF-8 (see {@link nameBytes}). */
export function hasRawBytes(name: string): boolean {
  return !wellFormed(name);
}

/** The bytes of a name or path: UTF-8, with each escaped byte (U+DC80..U+DCFF) as itself. */
export function nameBytes(name: string): Buffer {
  if (wellFormed(name)) return Buffer.from(name);
  const out: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      out.push(c & 0xff);
      continue;
    }
    const next = name.charCodeAt(i + 1);
    const pair = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
    for (const b of Buffer.from(pair ? name.slice(i, i + 2) : name[i]!)) out.push(b);
    if (pair) i++;
  }
  return Buffer.from(out);
}

/** The length of {@link nameBytes}. */
export function nameByteLength(name: string): number {
  return wellFormed(name) ? Buffer.byteLength(name) : nameBytes(name).length;
}

/** The name whose {@link nameBytes} are `bytes`: the UTF-8 text, with other bytes escaped. */
export function nameFromBytes(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    // Decode piece by piece: the longest valid UTF-8 run, then one escaped byte.
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8Length(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 | bytes[i]!);
      i++;
    } else {
      out += UTF8.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/** The length of the valid UTF-8 sequence at bytes[i], or 0. */
function utf8Length(bytes: Uint8Array, i: number): number {
  const c = bytes[i]!;
  if (c < 0x80) return 1;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > bytes.length) return 0;
  for (let k = 1; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return 0;
  try {
    UTF8.decode(bytes.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}
