import { constants, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  defineBackend,
  isUnder,
  O,
  ShylockError,
  type Backend,
  type DirEntry,
  type FileHandle,
  type FileType,
  type OpenFlags,
  type Stat,
} from '@shylock/core';

/** Options of {@link localBackend}. */
export interface LocalBackendOptions {
  /** The directory to serve. It must exist. */
  root: string;
  /** Name used in errors and metrics (default `'local'`). */
  name?: string;
}

function typeOf(s: Stats): FileType {
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  return 'file';
}

function toStat(s: Stats): Stat {
  return {
    type: typeOf(s),
    size: s.size,
    mode: s.mode & 0o7777,
    mtimeMs: s.mtimeMs,
    ctimeMs: s.ctimeMs,
    atimeMs: s.atimeMs,
    birthtimeMs: s.birthtimeMs,
    uid: s.uid,
    gid: s.gid,
    nlink: s.nlink,
  };
}

function numericFlags(f: OpenFlags): number {
  let n = f.read && f.write ? O.RDWR : f.write ? O.WRONLY : O.RDONLY;
  if (f.create) n |= O.CREAT;
  if (f.exclusive) n |= O.EXCL;
  if (f.truncate) n |= O.TRUNC;
  if (f.append) n |= O.APPEND;
  return n | constants.O_NOFOLLOW;
}

/**
 * A local directory as a backend: every call is an async, fd-based `fs` call on the file under
 * `root`. Errors keep the system's POSIX code (ENOENT, EACCES, ENOTEMPTY …).
 *
 * Paths cannot leave `root`: `..` is rejected before this backend sees it, and a path whose
 * parent directories lead outside `root` through a symlink rejects EACCES. Symlinks are stored
 * as given (absolute targets too) and never followed by this backend; `stat` does not follow them.
 *
 * ```ts
 * const data = localBackend({ root: '/srv/data' });
 * ```
 *
 * @throws ShylockError `EINVAL` when `root` is missing or empty.
 */
export function localBackend(options: LocalBackendOptions | string): Backend {
  const opts = typeof options === 'string' ? { root: options } : options;
  if (typeof opts.root !== 'string' || opts.root === '') {
    throw new ShylockError('EINVAL', 'localBackend: give the directory to serve as root');
  }
  const root = resolve(opts.root);
  const name = opts.name ?? 'local';
  let realRoot: Promise<string> | undefined;
  const rootReal = () =>
    (realRoot ??= fsp.realpath(root).catch((e: NodeJS.ErrnoException) => {
      realRoot = undefined;
      throw new ShylockError(e.code === 'ENOENT' ? 'ENOENT' : 'EIO', `the directory ${root} cannot be served: ${e.message}`, {
        cause: e,
        backend: name,
      });
    }));

  /**
   * The host path of `path`, after checking that its parent directories (and, with `follow`, the
   * path itself, for calls that follow a final symlink) do not lead outside the root.
   */
  const host = async (path: string, follow = false): Promise<string> => {
    const full = path === '/' ? root : join(root, path);
    const checked = follow ? full : dirname(full);
    const base = await rootReal();
    if (checked === root || full === root) return full;
    const real = await fsp.realpath(checked);
    if (!isUnder(real, base)) {
      throw new ShylockError('EACCES', `${path}: a parent directory leads outside ${root} through a symlink`, {
        path,
        backend: name,
      });
    }
    return full;
  };

  const wrap = (fh: fsp.FileHandle): FileHandle => ({
    async read(buffer, position) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
      return bytesRead;
    },
    async write(data, position) {
      const { bytesWritten } = await fh.write(data, 0, data.length, position);
      return bytesWritten;
    },
    truncate: (size) => fh.truncate(size),
    stat: async () => toStat(await fh.stat()),
    async flush() {
      // Written data is in the kernel already; write errors were reported by write.
    },
    sync: () => fh.sync(),
    close: () => fh.close(),
  });

  return defineBackend({
    name,
    capabilities: {
      read: true,
      write: true,
      list: true,
      directories: true,
      unlink: true,
      rename: true,
      truncate: true,
      randomWrite: true,
      append: true,
      streams: false,
      chmod: true,
      utimes: true,
      symlinks: true,
      hardLinks: true,
      chown: true,
    },
    async stat(path) {
      return toStat(await fsp.lstat(await host(path)));
    },
    async list(path) {
      const entries = await fsp.readdir(await host(path, true), { withFileTypes: true });
      return entries.map(
        (e): DirEntry => ({ name: e.name, type: e.isDirectory() ? 'directory' : e.isSymbolicLink() ? 'symlink' : 'file' }),
      );
    },
    async open(path, flags, o) {
      return wrap(await fsp.open(await host(path), numericFlags(flags), o?.mode ?? 0o644));
    },
    mkdir: async (path, mode = 0o755) => fsp.mkdir(await host(path), { mode }),
    unlink: async (path) => {
      const full = await host(path);
      try {
        await fsp.unlink(full);
      } catch (e) {
        // Linux says EISDIR for unlink(2) of a directory; some systems EPERM.
        if ((e as NodeJS.ErrnoException).code === 'EPERM' && (await fsp.lstat(full)).isDirectory()) {
          throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
        }
        throw e;
      }
    },
    rmdir: async (path) => {
      if (path === '/') throw new ShylockError('EBUSY', 'rmdir /: the root cannot be removed');
      await fsp.rmdir(await host(path));
    },
    rename: async (from, to) => fsp.rename(await host(from), await host(to)),
    truncate: async (path, size) => {
      if (size < 0) throw new ShylockError('EINVAL', `truncate ${path}: the size must not be negative`);
      await fsp.truncate(await host(path, true), size);
    },
    chmod: async (path, mode) => fsp.chmod(await host(path, true), mode),
    utimes: async (path, atimeMs, mtimeMs) => fsp.lutimes(await host(path), atimeMs / 1000, mtimeMs / 1000),
    chown: async (path, uid, gid) => fsp.lchown(await host(path), uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid),
    symlink: async (target, path) => fsp.symlink(target, await host(path)),
    readlink: async (path) => fsp.readlink(await host(path)),
    link: async (from, to) => fsp.link(await host(from), await host(to)),
    async statfs() {
      const s = await fsp.statfs(root);
      return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
    },
    async close() {},
  });
}
