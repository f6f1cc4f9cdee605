import { ERRNO, isShylockError, parentPath, parseOpenFlags, ShylockError, type Backend, type FileHandle, type Stat } from '@shylock/core';
import { DIRECT_IO, type FuseHandlers, type FuseStat, type NativeSession, OMITTED, type Reply, SERVE_NATIVE } from './binding.js';
import type { ListingCache } from './listing-cache.js';
import type { NativeIo } from './native-io.js';
import type { OpenFile, OpenFiles } from './open-files.js';
import type { Requests } from './requests.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_ISGID = 0o2000;
const S_ISUID = 0o4000;

const TYPE_BITS: Record<Stat['type'], number> = {
  file: S_IFREG,
  stream: S_IFREG,
  directory: S_IFDIR,
  symlink: S_IFLNK,
  fifo: S_IFIFO,
  socket: 0o140000,
  chardev: 0o020000,
  blockdev: 0o060000,
};

/** What the handlers of one mount work with. */
export interface HandlerContext {
  /** The backend with the mount's layers (QoS, read-only). */
  fs: Backend;
  /** Who called (uid, gid) and the native handle table. */
  session: NativeSession;
  requests: Requests;
  open: OpenFiles;
  listings: ListingCache;
  native: NativeIo;
  /** Stream files bypass the page cache per open unless the whole mount does already. */
  directIo: boolean;
  /** The mounting process's uid and gid: owners where the backend has none. */
  uid: number;
  gid: number;
  /** Whether a lookup asks for the file's content (StatOptions.content); absent: never. */
  wantContent?: () => boolean;
}

/** Attributes for the kernel from a backend's stat. */
export function toFuseStat(s: Stat, uid: number, gid: number): FuseStat {
  const size = s.size;
  return {
    mode: TYPE_BITS[s.type] | (s.mode & 0o7777),
    uid: s.uid ?? uid,
    gid: s.gid ?? gid,
    size,
    nlink: s.nlink ?? (s.type === 'directory' ? 2 : 1),
    rdev: s.rdev ?? 0,
    blksize: s.blksize ?? 4096,
    blocks: Math.ceil(size / 512),
    // Fractional milliseconds keep sub-millisecond times.
    atime: s.atimeMs ?? s.mtimeMs,
    mtime: s.mtimeMs,
    ctime: s.ctimeMs ?? s.mtimeMs,
    ino: s.ino ?? 0,
  };
}

/**
 * The FUSE handlers of a mount: each kernel request becomes backend calls, answered through its
 * callback with values or a negative errno. They touch the binding only through `ctx.session`,
 * so they run without a kernel in tests.
 */
export function createHandlers(ctx: HandlerContext): FuseHandlers {
  const { fs, session, requests, open, listings, native, uid, gid } = ctx;
  const toStat = (s: Stat) => toFuseStat(s, uid, gid);
  /** The caller of the operation being handled; read synchronously at the start of a handler. */
  const caller = () => session.caller();
  /** Gives what a caller created to that caller, as a disk does. */
  const own = async (path: string, who: { uid: number; gid: number }) => {
    if (!fs.chown || (who.uid === uid && who.gid === gid)) return;
    // In a setgid directory a new entry takes the directory's group, not the caller's.
    const dir = await fs.stat(parentPath(path)).catch(() => undefined);
    const group = dir && dir.mode & S_ISGID && dir.gid !== undefined ? dir.gid : who.gid;
    await fs.chown(path, who.uid, group);
  };
  const openFile = (path: string, fd: number) => open.need(path, fd);
  const need = <K extends keyof Backend>(name: K, path: string): NonNullable<Backend[K]> => {
    const fn = fs[name];
    if (typeof fn !== 'function') {
      throw new ShylockError('ENOSYS', `${String(name)} ${path}: ${fs.name} does not support it`, { path });
    }
    return (fn as (...a: unknown[]) => unknown).bind(fs) as NonNullable<Backend[K]>;
  };
  /**
   * Registers an open handle; returns its number, with the per-open direct I/O bit for stream
   * files, and for native files opened write-only (`mode`: their mode when known, e.g. created).
   */
  const register = async (path: string, handle: FileHandle, access: { read: boolean; write: boolean }, mode?: number): Promise<number> => {
    let stream = false;
    if (fs.capabilities.streams) {
      stream = (await (handle.stat?.() ?? fs.stat(path)).catch(() => undefined))?.type === 'stream';
    }
    const file = { handle, path, stream };
    const fd = open.add(file, access.write && !!handle.stat && !stream);
    // Its stat is the writer's from now on, and a native one's writes will not pass through
    // requests.call(): cached listing stats may go stale (the FUSE threads hold them too).
    if (access.write) listings.forget();
    if (stream && access.read) native.registerStream(fd, file);
    if (!native.register(fd, file, handle)) return stream && !ctx.directIo ? fd | DIRECT_IO : fd;
    // A write-only native file skips the page cache: each write is one request straight to the
    // descriptor, with no copy into pages nobody reads (about 1.5× the throughput). Not for
    // setuid/setgid files: libfuse 3.14 drops the kernel's request to clear those bits on write.
    if (access.write && !access.read) {
      const bits = mode ?? (await (handle.stat?.() ?? fs.stat(path)).catch(() => undefined))?.mode ?? S_ISUID;
      if ((bits & (S_ISUID | S_ISGID)) === 0) return fd | DIRECT_IO;
    }
    return fd;
  };
  /**
   * libfuse's buffer of a read or write is lent until the answer, then detached: JavaScript that
   * keeps it sees it empty. A descriptor's I/O would hand it to the system (libuv's threads),
   * which can't be called off at a deadline or an unmount: those get a buffer of their own.
   */
  const systemIo = (file: OpenFile) => file.handle.native?.fd !== undefined;
  const statOf = (path: string, lookup = false) => {
    const writer = open.writer(path);
    if (writer) return writer.handle.stat!();
    const hit = listings.get(path);
    if (hit) return Promise.resolve(hit);
    return lookup && ctx.wantContent?.() ? fs.stat(path, { content: true }) : fs.stat(path);
  };

  type Cb = Reply;
  const handlers: FuseHandlers = {
    statfs: (path: string, cb: Cb) =>
      requests.call(
        'statfs',
        path,
        cb,
        async () => (fs.statfs ? fs.statfs() : undefined),
        (s) => [
          {
            bsize: s?.bsize ?? 4096,
            frsize: s?.bsize ?? 4096,
            blocks: s?.blocks ?? 1 << 30,
            bfree: s?.bfree ?? 1 << 30,
            bavail: s?.bavail ?? 1 << 30,
            files: s?.files ?? 1 << 24,
            ffree: s?.ffree ?? 1 << 24,
            favail: s?.ffree ?? 1 << 24,
            fsid: 0,
            flag: 0,
            namemax: s?.namemax ?? 255,
          },
        ],
      ),
    getattr: (path: string, cb: Cb) =>
      requests.call(
        'getattr',
        path,
        cb,
        () => statOf(path, true),
        // A content that came with the stat may serve the open that follows (see fastPrefetch).
        (s) => [toStat(s), s.content],
      ),
    fgetattr: (path: string, fd: number, cb: Cb) =>
      requests.call(
        'fgetattr',
        path,
        cb,
        async () => {
          const file = open.get(fd);
          return file?.handle.stat ? file.handle.stat() : statOf(path);
        },
        (s) => [toStat(s)],
      ),
    readdir: (path: string, cb: Cb) =>
      requests.call(
        'readdir',
        path,
        cb,
        async () => {
          const entries = await fs.list(path);
          listings.remember(path, entries);
          return entries;
        },
        (entries) => {
          const names = ['.', '..', ...entries.map((e) => e.name)];
          if (!entries.every((e) => e.stat)) return [names];
          const dir = toStat({ type: 'directory', size: 0, mode: 0o755, mtimeMs: Date.now() });
          return [names, [dir, dir, ...entries.map((e) => toStat(e.stat!))]];
        },
      ),
    open: (path: string, flags: number, cb: Cb) =>
      requests.call(
        'open',
        path,
        cb,
        async () => {
          const parsed = parseOpenFlags(flags);
          return register(path, await fs.open(path, parsed), parsed);
        },
        (fd) => [fd],
      ),
    create: (path: string, mode: number, openFlags: number, cb: Cb) => {
      const who = caller();
      requests.call(
        'create',
        path,
        cb,
        async () => {
          // The kernel only calls create for a name that did not exist: open it read-write, so even
          // an O_RDONLY create stores the new file, with O_EXCL / O_APPEND / O_TRUNC as the caller
          // asked. The kernel enforces the caller's access mode.
          const asked = parseOpenFlags(openFlags);
          const flags = {
            read: true,
            write: true,
            create: true,
            exclusive: asked.exclusive,
            truncate: asked.truncate,
            append: asked.append,
          };
          const handle = await fs.open(path, flags, { mode: mode & 0o7777 });
          try {
            await own(path, who);
          } catch (e) {
            await handle.close().catch(() => undefined);
            throw e;
          }
          return register(path, handle, { read: (openFlags & 3) !== 1, write: true }, mode);
        },
        (fd) => [fd],
      );
    },
    read: (path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Cb, interruptible?: () => AbortSignal) => {
      const file = open.get(fd);
      if (!file) return cb(-ERRNO.EBADF);
      // A native file out of credit: prepay the next chunk and let the FUSE thread do the read.
      if (file.native?.charged && native.refill(fd, file, 'read', length)) return cb(SERVE_NATIVE);
      // Another read fed the FUSE threads meanwhile: they serve this one, in order.
      if (native.fed(fd, file)) return cb(SERVE_NATIVE);
      requests.call(
        'read',
        path,
        file.native?.charged ? (code, ...rest) => (cb(code, ...rest), native.refill(fd, file, 'read', length)) : cb,
        async () => {
          const target = length === buffer.length ? buffer : buffer.subarray(0, length);
          // A stream read may wait for ever: the caller's Ctrl-C (an interrupt) ends it.
          if (file.stream) {
            const read = () => file.handle.read(target, null, interruptible ? { signal: interruptible() } : undefined);
            return file.spilling ? native.readStream(fd, file, target, read) : read();
          }
          if (!systemIo(file)) return file.handle.read(target, position);
          const own = Buffer.allocUnsafe(length);
          const n = await file.handle.read(own, file.stream ? null : position);
          target.set(own.subarray(0, n));
          return n;
        },
        'count',
        file.stream ? 0 : requests.timeoutMs,
        // The next read of a native file most likely needs no JavaScript: polling for it would
        // only take a core from the FUSE threads doing the copies.
        !file.native,
      );
    },
    write: (path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Cb) => {
      const file = open.get(fd);
      if (!file?.handle.write) return cb(-ERRNO.EBADF);
      if (file.native?.charged && native.refill(fd, file, 'write', length)) return cb(SERVE_NATIVE);
      const write = file.handle.write.bind(file.handle);
      requests.call(
        'write',
        path,
        file.native?.charged ? (code, ...rest) => (cb(code, ...rest), native.refill(fd, file, 'write', length)) : cb,
        () => {
          const data = length === buffer.length ? buffer : buffer.subarray(0, length);
          return write(systemIo(file) ? Buffer.from(data) : data, file.stream ? null : position);
        },
        'count',
        requests.timeoutMs,
        !file.native,
      );
    },
    flush: (path: string, fd: number, cb: Cb) =>
      requests.call('flush', path, cb, async () => {
        await openFile(path, fd).handle.flush?.();
      }),
    fsync: (path: string, _datasync: boolean, fd: number, cb: Cb) =>
      requests.call('fsync', path, cb, async () => {
        const { handle } = openFile(path, fd);
        await (handle.sync ? handle.sync() : handle.flush?.());
      }),
    release: (path: string, fd: number, cb: Cb) =>
      requests.call('release', path, cb, async () => {
        const file = open.remove(fd);
        if (file) native.unregister(fd, file);
        await file?.handle.close();
      }),
    // `echo x > f` opens f, then truncates it by path: a file open for writing takes the truncate
    // itself, or a buffered handle (key/value stores) would later store its old bytes again.
    truncate: (path: string, size: number, cb: Cb) =>
      requests.call('truncate', path, cb, async () => {
        const writer = open.writer(path);
        if (writer?.handle.truncate) return writer.handle.truncate(size);
        return need('truncate', path)(path, size);
      }),
    ftruncate: (path: string, fd: number, size: number, cb: Cb) =>
      requests.call('ftruncate', path, cb, async () => {
        const file = openFile(path, fd);
        if (file.handle.truncate) await file.handle.truncate(size);
        else await need('truncate', path)(path, size);
      }),
    mkdir: (path: string, mode: number, cb: Cb) => {
      const who = caller();
      requests.call('mkdir', path, cb, async () => {
        await need('mkdir', path)(path, mode & 0o7777);
        await own(path, who);
      });
    },
    rmdir: (path: string, cb: Cb) => requests.call('rmdir', path, cb, () => need('rmdir', path)(path)),
    unlink: (path: string, cb: Cb) =>
      requests.call('unlink', path, cb, async () => {
        await need('unlink', path)(path);
        open.unlinked(path);
      }),
    rename: (from: string, to: string, cb: Cb) =>
      requests.call('rename', from, cb, async () => {
        await need('rename', from)(from, to);
        open.renamed(from, to);
      }),
    chmod: (path: string, mode: number, cb: Cb) =>
      requests.call('chmod', path, cb, async () => {
        if (fs.chmod) return fs.chmod(path, mode & 0o7777);
        // A backend without permission bits: accept a change to what it already reports (git
        // copies a file's mode onto its lock file), refuse any other.
        const s = await fs.stat(path);
        if ((mode & 0o7777) !== s.mode) {
          throw new ShylockError('EPERM', `chmod ${path}: ${fs.name} keeps no permission bits (it shows ${s.mode.toString(8)})`, { path });
        }
      }),
    chown: (path: string, owner: number, group: number, cb: Cb) =>
      requests.call('chown', path, cb, async () => {
        if (fs.chown) return fs.chown(path, owner, group);
        // A backend without owners: accept a change to what it already reports.
        const s = await fs.stat(path);
        const same = (owner === 0xffffffff || owner === (s.uid ?? uid)) && (group === 0xffffffff || group === (s.gid ?? gid));
        if (!same) throw new ShylockError('EPERM', `chown ${path}: ${fs.name} has no owners`, { path });
      }),
    utimens: (path: string, atime: number, mtime: number, cb: Cb) =>
      requests.call('utimens', path, cb, async () => {
        if (!fs.utimes) {
          // A backend whose times are its own (an object's last change): accept setting them to
          // what it reports, to the second (touch of a file just made), refuse any other.
          const s = await fs.stat(path);
          if (mtime < OMITTED && Math.abs(mtime - s.mtimeMs) >= 2000) need('utimes', path);
          return;
        }
        const utimes = need('utimes', path);
        // UTIME_OMIT (touch -m, touch -a) keeps that time as it is.
        if (atime >= OMITTED || mtime >= OMITTED) {
          const s = await fs.stat(path);
          if (atime >= OMITTED) atime = s.atimeMs ?? s.mtimeMs;
          if (mtime >= OMITTED) mtime = s.mtimeMs;
        }
        return utimes(path, atime, mtime);
      }),
    mknod: (path: string, mode: number, dev: number, cb: Cb) => {
      const who = caller();
      requests.call('mknod', path, cb, async () => {
        await need('mknod', path)(path, mode, dev);
        await own(path, who);
      });
    },
    readlink: (path: string, cb: Cb) =>
      requests.call(
        'readlink',
        path,
        cb,
        () => need('readlink', path)(path),
        (t) => [t],
      ),
    symlink: (target: string, path: string, cb: Cb) => {
      const who = caller();
      requests.call('symlink', path, cb, async () => {
        await need('symlink', path)(target, path);
        await own(path, who);
      });
    },
    link: (from: string, to: string, cb: Cb) => requests.call('link', to, cb, () => need('link', to)(from, to)),
    // Extended attributes, where the backend has them. The kernel asks for security.capability
    // before every write: a backend with nativeRoot has getxattr and listxattr answered on the
    // FUSE threads, and "no such attribute" (ENODATA) is an answer, not an error to log.
    ...(fs.getxattr
      ? {
          getxattr: (path: string, name: string, _position: number, cb: Cb) =>
            requests.call(
              'getxattr',
              path,
              cb,
              () =>
                fs.getxattr!(path, name).catch((e: unknown) => (isShylockError(e) && e.code === 'ENODATA' ? undefined : Promise.reject(e))),
              // No value: the binding answers ENODATA.
              (value) => [value],
            ),
          listxattr: (path: string, cb: Cb) =>
            requests.call(
              'listxattr',
              path,
              cb,
              () => need('listxattr', path)(path),
              (names) => [names],
            ),
          setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Cb) =>
            requests.call('setxattr', path, cb, () => need('setxattr', path)(path, name, value, flags)),
          removexattr: (path: string, name: string, cb: Cb) =>
            requests.call('removexattr', path, cb, () => need('removexattr', path)(path, name)),
        }
      : {}),
  };
  return handlers;
}
