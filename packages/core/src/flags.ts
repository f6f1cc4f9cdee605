import { ShylockError } from './errors.js';
import type { OpenFlags } from './types.js';

/** Linux `O_*` values used by {@link parseOpenFlags} and the FUSE adapter. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  ACCMODE: 3,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
} as const;

const STRING_FLAGS: Record<string, number> = {
  r: O.RDONLY,
  'r+': O.RDWR,
  w: O.WRONLY | O.CREAT | O.TRUNC,
  wx: O.WRONLY | O.CREAT | O.TRUNC | O.EXCL,
  'w+': O.RDWR | O.CREAT | O.TRUNC,
  'wx+': O.RDWR | O.CREAT | O.TRUNC | O.EXCL,
  a: O.WRONLY | O.CREAT | O.APPEND,
  ax: O.WRONLY | O.CREAT | O.APPEND | O.EXCL,
  'a+': O.RDWR | O.CREAT | O.APPEND,
  'ax+': O.RDWR | O.CREAT | O.APPEND | O.EXCL,
};

/**
 * Builds {@link OpenFlags} from Node's flag strings (`'r'`, `'r+'`, `'w'`, `'wx'`, `'a'`, `'a+'` …),
 * from numeric Linux `O_*` flags, or from a partial object (missing fields are false, and `read`
 * defaults to true when nothing asks to write).
 *
 * @throws ShylockError `EINVAL` for an unknown string.
 */
export function parseOpenFlags(flags: string | number | Partial<OpenFlags>): OpenFlags {
  if (typeof flags === 'object' && flags !== null) {
    const write = flags.write ?? false;
    return {
      read: flags.read ?? !write,
      write,
      create: flags.create ?? false,
      exclusive: flags.exclusive ?? false,
      truncate: flags.truncate ?? false,
      append: flags.append ?? false,
    };
  }
  let n: number;
  if (typeof flags === 'string') {
    const value = STRING_FLAGS[flags.replace('s', '')];
    if (value === undefined) {
      throw new ShylockError('EINVAL', `unknown open flags "${flags}": use r, r+, w, wx, w+, a, ax or a+`, {
        op: 'open',
      });
    }
    n = value;
  } else {
    n = flags;
  }
  const access = n & O.ACCMODE;
  return {
    read: access === O.RDONLY || access === O.RDWR,
    write: access === O.WRONLY || access === O.RDWR,
    create: (n & O.CREAT) !== 0,
    exclusive: (n & O.EXCL) !== 0,
    truncate: (n & O.TRUNC) !== 0,
    append: (n & O.APPEND) !== 0,
  };
}

/** True when the flags would change the file (write, create or truncate). */
export function isMutating(flags: OpenFlags): boolean {
  return flags.write || flags.create || flags.truncate || flags.append;
}
