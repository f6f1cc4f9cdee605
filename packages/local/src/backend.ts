import { execFile } from 'node:child_process';
import * as fss from 'node:fs';
import { constants, read as fdRead, write as fdWrite, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  defineBackend,
  ERRNO,
  POSIX_CAPABILITIES,
  hasRawBytes,
  isUnder,
  nameBytes,
  nameFromBytes,
  O,
  ShylockError,
  type Backend,
  type DirEntry,
  type ErrorCode,
  type FileHandle,
  type FileType,
  type HostMknod,
  type HostXattr,
  nameByteLength,
  type OpenFlags,
  PATH_MAX,
  splitPath,
  type Stat,
} from '@shylock/core';

/** Options of {@link localBackend}. */
export interface LocalBackendOptions {
  /** The directory to serve. It must exist. */
  root: string;
  /** Name used in errors and metrics (default `'local'`). */
  name?: string;
  /**
   * How metadata calls (stat, open, close, mkdir, unlink, rename, chmod …) reach the directory.
   * `'sync'` (default) makes them synchronously: no thread-pool round trip, several times faster
   * on a local disk, and what a mount needs for `ls -l` and many small files. `'async'` keeps
   * the event loop free while each call runs: choose it for a directory on a network file system
   * that may stall.
   *
   * Never point a backend with `'sync'` at a directory inside a mount served by the same process.
   */
  metadata?: 'sync' | 'async';
  /**
   * How reads and writes of file contents reach the directory (default: as `metadata`). `'sync'`
   * copies to and from the page cache on the calling thread, with no thread-pool round trip:
   * through a mount, 4 KiB random reads run about twice as fast. `'async'` for a network file
   * system.
   */
  data?: 'sync' | 'async';
  /**
   * Extended attributes of the host files, which Node's `fs` cannot reach: `hostXattr` from
   * `@shylock/fuse` (shylock's build of the FUSE binding) is one. With it the backend has the
   * `xattrs` capability; without it, none.
   */
  xattrs?: HostXattr;
  /**
   * mknod(2) of host paths, which Node's `fs` cannot do: `hostMknod` from `@shylock/fuse` is
   * one. With it every kind of node can be made, Unix sockets too; without it FIFOs and device
   * nodes are made by coreutils' mkfifo and mknod, and sockets refused (EPERM).
   */
  mknod?: HostMknod;
}

const CODE_OF = new Map<number, ErrorCode>(Object.entries(ERRNO).map(([code, n]) => [n, code as ErrorCode]));

function typeOf(s: Stats): FileType {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice()) return 'chardev';
  if (s.isBlockDevice()) return 'blockdev';
  return 'file';
}

const S_IFMT = 0o170000;
/** open(2)'s O_PATH on Linux (Node's constants lack it): a descriptor that only names a place. */
const O_PATH = 0o10000000;

/** A host path: a string, or its bytes when a name in it is not UTF-8 (see core's nameBytes). */
type HostPath = string | Buffer;
const hostPath = (p: string): HostPath => (hasRawBytes(p) ? nameBytes(p) : p);
const run = promisify(execFile);

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
    ino: s.ino,
    ...(s.rdev ? { rdev: s.rdev } : {}),
  };
}

/** This process's umask, read once (process.umask() to read it is deprecated: it sets it). */
const UMASK = (() => {
  try {
    const m = /^Umask:\s*([0-7]+)/m.exec(fss.readFileSync('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1]!, 8) : 0o022;
  } catch {
    return 0o022;
  }
})();

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
  if (opts.metadata !== undefined && opts.metadata !== 'sync' && opts.metadata !== 'async') {
    throw new ShylockError('EINVAL', `localBackend: metadata must be 'sync' or 'async', got ${String(opts.metadata)}`);
  }
  const sync = (opts.metadata ?? 'sync') === 'sync';
  if (opts.data !== undefined && opts.data !== 'sync' && opts.data !== 'async') {
    throw new ShylockError('EINVAL', `localBackend: data must be 'sync' or 'async', got ${String(opts.data)}`);
  }
  const syncData = (opts.data ?? (sync ? 'sync' : 'async')) === 'sync';
  const xattrs = opts.xattrs;
  if (xattrs !== undefined && typeof xattrs !== 'function') {
    throw new ShylockError('EINVAL', 'localBackend: xattrs must be a function such as hostXattr from @shylock/fuse');
  }
  const hostMknod = opts.mknod;
  if (hostMknod !== undefined && typeof hostMknod !== 'function') {
    throw new ShylockError('EINVAL', 'localBackend: mknod must be a function such as hostMknod from @shylock/fuse');
  }
  /** A negative errno from a host call, as a ShylockError. */
  const errnoError = (errno: number, what: string) => {
    const code = CODE_OF.get(errno) ?? 'EIO';
    return new ShylockError(code, `${what}: the host answered ${code}`);
  };
  /** Runs a HostXattr call; a negative answer becomes that errno. */
  const xattr = <T extends Buffer | number>(
    op: Parameters<HostXattr>[0],
    path: string,
    ...args: [string | Buffer, string?, Uint8Array?, number?]
  ): T => {
    const r = xattrs!(op, ...args);
    if (typeof r === 'number' && r < 0) {
      const code = CODE_OF.get(-r) ?? 'EIO';
      const attr = args[1] === undefined ? '' : ` ${args[1]}`;
      throw new ShylockError(code, `${op}xattr ${path}${attr}: the host answered ${code}`, { op: `${op}xattr`, path });
    }
    return r as T;
  };
  /** The metadata calls, synchronous or not (see `metadata`). */
  const meta = sync
    ? {
        lstat: async (p: HostPath) => fss.lstatSync(p),
        open: async (p: HostPath, flags: number, mode: number) => fss.openSync(p, flags, mode),
        close: async (fd: number) => fss.closeSync(fd),
        fstat: async (fd: number) => fss.fstatSync(fd),
        ftruncate: async (fd: number, size: number) => fss.ftruncateSync(fd, size),
        fsync: async (fd: number) => fss.fsyncSync(fd),
        readdir: async (p: HostPath) => fss.readdirSync(p, { withFileTypes: true }),
        readdirBytes: async (p: HostPath) => fss.readdirSync(p, { withFileTypes: true, encoding: 'buffer' }),
        mkdir: async (p: HostPath, mode: number) => void fss.mkdirSync(p, { mode }),
        unlink: async (p: HostPath) => fss.unlinkSync(p),
        rmdir: async (p: HostPath) => fss.rmdirSync(p),
        rename: async (a: HostPath, b: HostPath) => fss.renameSync(a, b),
        chmod: async (p: HostPath, mode: number) => fss.chmodSync(p, mode),
      }
    : {
        lstat: (p: HostPath) => fsp.lstat(p),
        open: (p: HostPath, flags: number, mode: number) =>
          new Promise<number>((done, fail) => fss.open(p, flags, mode, (e, fd) => (e ? fail(e) : done(fd)))),
        close: (fd: number) => new Promise<void>((done, fail) => fss.close(fd, (e) => (e ? fail(e) : done()))),
        fstat: (fd: number) => new Promise<Stats>((done, fail) => fss.fstat(fd, (e, st) => (e ? fail(e) : done(st)))),
        ftruncate: (fd: number, size: number) => new Promise<void>((done, fail) => fss.ftruncate(fd, size, (e) => (e ? fail(e) : done()))),
        fsync: (fd: number) => new Promise<void>((done, fail) => fss.fsync(fd, (e) => (e ? fail(e) : done()))),
        readdir: (p: HostPath) => fsp.readdir(p, { withFileTypes: true }),
        readdirBytes: (p: HostPath) => fsp.readdir(p, { withFileTypes: true, encoding: 'buffer' }),
        mkdir: async (p: HostPath, mode: number) => void (await fsp.mkdir(p, { mode })),
        unlink: (p: HostPath) => fsp.unlink(p),
        rmdir: (p: HostPath) => fsp.rmdir(p),
        rename: (a: HostPath, b: HostPath) => fsp.rename(a, b),
        chmod: (p: HostPath, mode: number) => fsp.chmod(p, mode),
      };
  let realRoot: Promise<string> | undefined;
  const rootReal = () =>
    (realRoot ??= fsp.realpath(root).catch((e: NodeJS.ErrnoException) => {
      realRoot = undefined;
      throw new ShylockError(e.code === 'ENOENT' ? 'ENOENT' : 'EIO', `the directory ${root} cannot be served: ${e.message}`, {
        cause: e,
        backend: name,
      });
    }));

  /** Directories found inside the root, until when (ms): checks are cached for a second. */
  const verified = new Map<string, number>();
  const forget = () => verified.clear();
  /**
   * The host path of `path`, after checking that its parent directories (and, with `follow`, the
   * path itself, for calls that follow a final symlink) do not lead outside the root.
   */
  const host = async (path: string, follow = false): Promise<HostPath> => hostPath(await hostName(path, follow));
  const hostName = async (path: string, follow = false): Promise<string> => {
    const full = path === '/' ? root : join(root, path);
    const checked = follow ? full : dirname(full);
    if (checked === root || full === root) {
      if (!realRoot) await rootReal();
      return full;
    }
    const now = Date.now();
    if ((verified.get(checked) ?? 0) > now) return full;
    const base = await rootReal();
    const real = await fsp.realpath(hostPath(checked));
    if (isUnder(real, base)) {
      if (verified.size > 4096) verified.clear();
      verified.set(checked, now + 1000);
    } else {
      throw new ShylockError('EACCES', `${path}: a parent directory leads outside ${root} through a symlink`, {
        path,
        backend: name,
      });
    }
    return full;
  };

  /** True when root + path passes what one host call takes (PATH_MAX with its NUL). */
  const tooLong = (path: string) => root.length + path.length >= 1365 && nameByteLength(root) + nameByteLength(path) >= PATH_MAX;
  /**
   * Runs `fn` on the host path of `path` (checked as {@link host} does). A path the kernel takes
   * in the mount can be longer than the host takes once the root is put in front of it: then its
   * directories are opened one by one (O_PATH, no symlink followed beyond the first 3 KiB) and
   * `fn` gets `/proc/<pid>/fd/<dir>/<name>`.
   */
  const within = async <T>(path: string, follow: boolean, fn: (p: HostPath) => T | Promise<T>): Promise<T> => {
    if (!tooLong(path)) return fn(await host(path, follow));
    const names = splitPath(path);
    let k = 0;
    for (let size = nameByteLength(root); k < names.length - 1 && size + 1 + nameByteLength(names[k]!) < 3072; k++) {
      size += 1 + nameByteLength(names[k]!);
    }
    let dir = await meta.open(await host(`/${names.slice(0, k).join('/')}`, true), O_PATH | constants.O_DIRECTORY, 0);
    try {
      // /proc/<pid>, not /proc/self: a child (mkfifo) may be given the path too.
      const deeper = (entry: string, fd: number) => hostPath(`/proc/${process.pid}/fd/${fd}/${entry}`);
      const notThroughLinks = async (entry: string, fd: number, e?: unknown) => {
        const isLink = await meta.lstat(deeper(entry, fd)).then(
          (s) => s.isSymbolicLink(),
          () => false,
        );
        if (isLink) {
          throw new ShylockError('EACCES', `${path}: a symlink more than 3 KiB below ${root} is not followed`, { path, backend: name });
        }
        if (e) throw e;
      };
      for (; k < names.length - 1; k++) {
        let next: number;
        try {
          next = await meta.open(deeper(names[k]!, dir), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW, 0);
        } catch (e) {
          // ENOTDIR for a symlink (O_NOFOLLOW), as for a file: say which.
          await notThroughLinks(names[k]!, dir, e);
          throw e;
        }
        await meta.close(dir);
        dir = next;
      }
      const last = names[names.length - 1]!;
      if (follow) await notThroughLinks(last, dir);
      return await fn(deeper(last, dir));
    } finally {
      await meta.close(dir);
    }
  };

  /** mknod(2) of the host path `full` (see the `mknod` option). */
  const makeNode = async (path: string, full: HostPath, mode: number, dev: number): Promise<void> => {
    if (hostMknod) {
      const r = hostMknod(full, mode, dev);
      if (r < 0) throw errnoError(-r, `mknod ${path}`);
      return;
    }
    // Without the binding (Node has no mknod(2)): regular files are opened, the rest made by coreutils.
    const perm = (mode & 0o7777).toString(8);
    const type = mode & S_IFMT;
    const exists = await meta.lstat(full).then(
      () => true,
      () => false,
    );
    if (exists) throw new ShylockError('EEXIST', `mknod ${path}: it exists`);
    if (type === 0o100000 || type === 0) return meta.close(await meta.open(full, O.CREAT | O.EXCL | O.WRONLY, mode & 0o7777));
    if (typeof full !== 'string') throw new ShylockError('EILSEQ', `mknod ${path}: a FIFO or device name must be UTF-8 here`);
    const args =
      type === 0o010000
        ? ['mkfifo', '-m', perm, full]
        : type === 0o020000 || type === 0o060000
          ? [
              'mknod',
              '-m',
              perm,
              full,
              type === 0o020000 ? 'c' : 'b',
              String((dev >> 8) & 0xfff),
              String((dev & 0xff) | ((dev >> 12) & 0xfff00)),
            ]
          : undefined;
    if (!args) throw new ShylockError('EPERM', `mknod ${path}: sockets cannot be made here`);
    try {
      await run(args[0]!, args.slice(1));
    } catch (e) {
      const text = String((e as { stderr?: string }).stderr ?? '');
      throw new ShylockError(/Permission denied|not permitted/.test(text) ? 'EPERM' : 'EIO', `mknod ${path}: ${text.trim()}`, {
        cause: e,
      });
    }
  };

  // Reads and writes on the descriptor, the hot path of a mount: synchronous, or the callback API.
  const wrap = (fd: number, flags: OpenFlags): FileHandle => ({
    // Reads and writes on fd are exactly what read/write below do: an adapter may do them itself.
    // flush below has nothing to do: written data is in the kernel already.
    native: { fd, read: flags.read, write: flags.write, noFlush: true },
    read: syncData
      ? async (buffer, position) => fss.readSync(fd, buffer, 0, buffer.length, position)
      : (buffer, position) =>
          new Promise((done, fail) => fdRead(fd, buffer, 0, buffer.length, position, (e, n) => (e ? fail(e) : done(n)))),
    write: syncData
      ? async (data, position) => fss.writeSync(fd, data, 0, data.length, position)
      : (data, position) => new Promise((done, fail) => fdWrite(fd, data, 0, data.length, position, (e, n) => (e ? fail(e) : done(n)))),
    truncate: (size) => meta.ftruncate(fd, size),
    stat: async () => toStat(await meta.fstat(fd)),
    async flush() {
      // Written data is in the kernel already; write errors were reported by write.
    },
    sync: () => meta.fsync(fd),
    close: () => meta.close(fd),
  });

  return defineBackend({
    name,
    // stat is lstat of root + path (escapes through symlinks are refused either way).
    nativeRoot: root,
    capabilities: {
      ...POSIX_CAPABILITIES,
      xattrs: xattrs !== undefined,
      copy: true,
    },
    async stat(path) {
      return toStat(await within(path, false, meta.lstat));
    },
    list: (path) =>
      within(path, true, async (dir) => {
        const entries = await meta.readdir(dir);
        const kind = (e: fss.Dirent | fss.Dirent<Buffer>) => (e.isDirectory() ? 'directory' : e.isSymbolicLink() ? 'symlink' : 'file');
        // A name that is not UTF-8 reads as U+FFFD: then the names are read again as bytes.
        if (!entries.some((e) => e.name.includes('\uFFFD'))) return entries.map((e): DirEntry => ({ name: e.name, type: kind(e) }));
        return (await meta.readdirBytes(dir)).map((e): DirEntry => ({ name: nameFromBytes(e.name), type: kind(e) }));
      }),
    open: (path, flags, o) =>
      within(path, false, async (full) => {
        const mode = o?.mode ?? 0o644;
        if (!flags.create || (mode & UMASK) === 0) return wrap(await meta.open(full, numericFlags(flags), mode), flags);
        // This process's umask would take bits the caller asked for (the caller's own umask was
        // applied already): create exclusively, then give the file exactly its mode.
        let fd: number;
        try {
          fd = await meta.open(full, numericFlags({ ...flags, exclusive: true }), mode);
        } catch (e) {
          if (flags.exclusive || (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          return wrap(await meta.open(full, numericFlags({ ...flags, create: false }), mode), flags);
        }
        await new Promise<void>((done, fail) => fss.fchmod(fd, mode & 0o7777, (e) => (e ? fail(e) : done())));
        return wrap(fd, flags);
      }),
    mkdir: (path, mode = 0o755) =>
      within(path, false, async (full) => {
        await meta.mkdir(full, mode);
        // As for files: the directory gets exactly the mode asked for, not this process's umask of it.
        if (mode & UMASK) await meta.chmod(full, mode & 0o7777);
      }),
    unlink: async (path) => {
      // A symlink used as a directory leaves the checks cached for it behind.
      if (!tooLong(path) && verified.has(join(root, path))) forget();
      await within(path, false, async (full) => {
        try {
          await meta.unlink(full);
        } catch (e) {
          // Linux says EISDIR for unlink(2) of a directory; some systems EPERM.
          if ((e as NodeJS.ErrnoException).code === 'EPERM' && (await meta.lstat(full)).isDirectory()) {
            throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
          }
          throw e;
        }
      });
    },
    rmdir: async (path) => {
      if (path === '/') throw new ShylockError('EBUSY', 'rmdir /: the root cannot be removed');
      await within(path, false, meta.rmdir);
      forget();
    },
    rename: async (from, to) => {
      await within(from, false, (a) => within(to, false, (b) => meta.rename(a, b)));
      forget();
    },
    truncate: async (path, size) => {
      if (size < 0) throw new ShylockError('EINVAL', `truncate ${path}: the size must not be negative`);
      await within(path, true, (full) => fsp.truncate(full as string, size));
    },
    chmod: (path, mode) => within(path, true, (full) => meta.chmod(full, mode)),
    utimes: (path, atimeMs, mtimeMs) => within(path, false, (full) => fsp.lutimes(full, atimeMs / 1000, mtimeMs / 1000)),
    chown: (path, uid, gid) =>
      within(path, false, (full) => fsp.lchown(full, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid)),
    symlink: async (target, path) => {
      await within(path, false, (full) => fsp.symlink(hostPath(target), full));
      forget();
    },
    readlink: (path) =>
      within(path, false, async (full) => {
        const target = await fsp.readlink(full);
        // A target that is not UTF-8 reads as U+FFFD: then it is read again as bytes.
        return target.includes('\uFFFD') ? nameFromBytes(await fsp.readlink(full, { encoding: 'buffer' })) : target;
      }),
    mknod: (path, mode, dev) => within(path, false, (full) => makeNode(path, full, mode, dev)),
    link: (from, to) => within(from, false, (a) => within(to, false, (b) => fsp.link(a, b))),
    copy: async (from, to) => {
      await within(from, false, async (source) => {
        if ((await meta.lstat(source)).isDirectory()) throw new ShylockError('EISDIR', `copy ${from}: is a directory`);
        // A reflink where the file system has them (btrfs, XFS), else copy_file_range in the kernel.
        await within(to, false, (target) => fsp.copyFile(source, target, constants.COPYFILE_FICLONE));
      });
      forget();
    },
    ...(xattrs
      ? {
          getxattr: (path: string, attr: string): Promise<Uint8Array> =>
            within(path, false, (full) => xattr<Buffer>('get', path, full, attr)),
          setxattr: (path: string, attr: string, value: Uint8Array, flags = 0) =>
            within(path, false, (full) => void xattr('set', path, full, attr, value, flags)),
          listxattr: (path: string) =>
            within(path, false, (full) => {
              const names = xattr<Buffer>('list', path, full).toString('latin1').split('\0');
              return names.filter((n) => n !== '').map((n) => nameFromBytes(Buffer.from(n, 'latin1')));
            }),
          removexattr: (path: string, attr: string) => within(path, false, (full) => void xattr('remove', path, full, attr)),
        }
      : {}),
    async statfs() {
      const s = await fsp.statfs(root);
      return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
    },
    async close() {},
  });
}
