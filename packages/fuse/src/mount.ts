import { execFile } from 'node:child_process';
import { mkdir, readFile, stat as fsStat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import {
  ERRNO,
  isShylockError,
  parentPath,
  parseOpenFlags,
  readOnly as readOnlyLayer,
  ShylockError,
  toShylockError,
  type Backend,
  type FileHandle,
  type HostXattr,
  type QosPolicy,
  type Stat,
} from '@shylock/core';
import { qosLayer } from '@shylock/qos';
import { DIRECT_IO, type FuseHandlers, FuseSession, loadNative, NATIVE_FLUSH_NOOP, NATIVE_READ, NATIVE_WRITE, OMITTED } from './binding.js';

const run = promisify(execFile);

/** Options of {@link mount}. */
export interface MountOptions {
  /** QoS rules applied to every operation through the mount. */
  qos?: QosPolicy;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /**
   * Kernel options added to the defaults (`big_writes`, `max_write=131072`,
   * `max_readahead=131072`), e.g. `['allow_other']`.
   */
  fuseOptions?: string[];
  /** Largest read the kernel sends, bytes (default 131072). */
  maxRead?: number;
  /**
   * Seconds the kernel caches attributes and names (default 0, as libfuse's
   * passthrough: every stat sees the backend, so `ln` shows the new link count at once and
   * changes made beside the mount are seen). A second or more saves requests where only this
   * mount changes the backend.
   */
  attrTimeout?: number;
  /**
   * Bypass the page cache for every file (default false). Stream files always bypass it (their
   * size is unknown, so the kernel must pass each read through): per open with shylock's build of
   * the binding, else by turning this on for the whole mount when the backend has streams.
   */
  directIo?: boolean;
  /** Milliseconds before an operation answers ETIMEDOUT (default 30,000). Stream reads never time out. */
  timeoutMs?: number;
  /**
   * Milliseconds the main thread keeps polling for the next request after one arrives (default
   * 2; 0 turns it off). A request that arrives meanwhile is picked up without waking a sleeping
   * event loop, which triples small-request throughput; it costs CPU only while requests flow.
   */
  pollMs?: number;
  /** Let other users use the mount (FUSE `allow_other`; root only, or `user_allow_other`). */
  allowOther?: boolean;
  /**
   * The kernel checks permission bits against the caller, as on a disk (FUSE
   * `default_permissions`; default true). Off, every caller may do whatever the backend allows.
   */
  defaultPermissions?: boolean;
  /** File system name shown by `mount` and `df` (default `shylock-<backend name>`). */
  fsname?: string;
  /**
   * Milliseconds a listing's stats answer the `getattr` calls that follow it (`ls -l` of 10,000
   * keys costs one list, not 10,000 stats). Any change through the mount clears them. Default
   * 1000; 0 turns it off.
   */
  listingCacheMs?: number;
  /**
   * Called with every error an operation answers with (for logs); default: nothing. With it,
   * native getattr and I/O that fail are answered through the backend, so none is missed.
   */
  onError?: (error: ShylockError, op: string, path: string) => void;
  /**
   * Serve reads and writes of files whose handle has a `native` descriptor (a local directory) on
   * the FUSE threads, with no round trip to JavaScript (default true; shylock's build of the
   * binding). QoS still applies: such I/O is paid in advance through the rules, in chunks that
   * are given back when unused, and a rule that cannot prepay a chunk sends every request of the
   * file through JavaScript, where it waits as usual.
   */
  nativeIo?: boolean;
}

/** A mounted backend. */
export interface Mount {
  readonly mountpoint: string;
  /** The backend as mounted (with the QoS and read-only layers). */
  readonly backend: Backend;
  /** Unmounts (lazily if busy) and closes the backend. Idempotent. */
  unmount(): Promise<void>;
  /**
   * Resolves once the mount is gone and the backend closed: after `unmount()`, or within a second
   * of an unmount from outside (`fusermount -u`, `umount`, an aborted connection; a lazy one once
   * its last open file is closed), which closes the backend the same way.
   */
  readonly closed: Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_ISGID = 0o2000;
/** The largest request the kernel sends with the default options. */
const MAX_REQUEST = 131072;

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

interface OpenFile {
  handle: FileHandle;
  path: string;
  stream: boolean;
  /** Registered for native I/O; with `charge`, the next prepaid chunk per direction. */
  native?: { charged: boolean; chunk: { read: number; write: number } };
}

/** The first prepaid chunk of native I/O, and the largest: 256 KiB doubling up to 16 MiB. */
const FIRST_CHUNK = 256 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;

/** Checks the mountpoint; unmounts a stale FUSE mount left by a crashed process. */
async function prepareMountpoint(mountpoint: string, create: boolean): Promise<void> {
  let info;
  try {
    info = await fsStat(mountpoint);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      await unmountPath(mountpoint);
      info = await fsStat(mountpoint);
    } else if (code === 'ENOENT' && create) {
      await mkdir(mountpoint, { recursive: true });
      info = await fsStat(mountpoint);
    } else if (code === 'ENOENT') {
      throw new ShylockError('ENOENT', `the mountpoint ${mountpoint} does not exist: create it first (mkdir -p)`, {
        op: 'mount',
        path: mountpoint,
      });
    } else {
      throw toShylockError(e, { op: 'mount', path: mountpoint });
    }
  }
  if (!info.isDirectory()) {
    throw new ShylockError('ENOTDIR', `the mountpoint ${mountpoint} is not a directory`, { op: 'mount', path: mountpoint });
  }
  if (await isMounted(mountpoint)) {
    throw new ShylockError('EBUSY', `${mountpoint} is already a mountpoint: unmount it first (fusermount -u ${mountpoint})`, {
      op: 'mount',
      path: mountpoint,
    });
  }
}

/** Mountpoints from /proc/self/mountinfo (octal escapes decoded). */
async function mountpoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** True when `path` is a mountpoint now. */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountpoints()).includes(resolvePath(path));
}

/**
 * Unmounts whatever FUSE mount is at `path`, lazily, also a stale one ("Transport endpoint is
 * not connected"). Resolves when nothing is mounted there.
 */
export async function unmountPath(path: string): Promise<void> {
  const target = resolvePath(path);
  if (!(await isMounted(target))) return;
  try {
    await run('fusermount', ['-uz', target]);
  } catch {
    await run('umount', ['-l', target]).catch(() => undefined);
  }
  if (await isMounted(target)) {
    throw new ShylockError('EBUSY', `could not unmount ${target}: try umount -l ${target}`, { op: 'unmount', path: target });
  }
}

/**
 * Mounts `backend` at `mountpoint` through FUSE and resolves once the kernel serves it.
 *
 * ```ts
 * import { mount } from '@shylock/fuse';
 * const m = await mount(memoryBackend(), '/mnt/x', { qos: createPolicy(rules) });
 * try { ... } finally { await m.unmount(); }
 * ```
 *
 * Every FUSE operation runs on this process's main thread: never call synchronous `fs`
 * functions on your own mount from this process (it deadlocks); use `fs/promises` or a child
 * process. Mount only from a process's main thread.
 *
 * @throws ShylockError ENOENT / ENOTDIR for a bad mountpoint, EBUSY when something is mounted
 *   there, EIO when FUSE is unavailable (no /dev/fuse, no fusermount).
 */
export async function mount(backend: Backend, mountpoint: string, options: MountOptions = {}): Promise<Mount> {
  const target = resolvePath(mountpoint);
  let layered = backend;
  if (options.qos) layered = qosLayer(options.qos)(layered);
  if (options.readOnly) layered = readOnlyLayer(layered);
  const fs = layered;
  loadNative();
  const directIo = options.directIo ?? false;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const nativeIo = options.nativeIo !== false;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const files = new Map<number, OpenFile>();
  /**
   * The newest writable handle per path. A key/value or object backend stores a new file only at
   * flush/close, so until then its attributes (and buffered size) come from the handle.
   */
  const writers = new Map<string, OpenFile>();
  let nextFd = 1;
  const allocFd = () => {
    // Handles start at 1 and skip numbers in use. Bit 30 is the binding's per-open direct I/O
    // flag, so handles stay below it.
    do {
      nextFd = nextFd >= 0x3fffffff ? 1 : nextFd + 1;
    } while (files.has(nextFd));
    return nextFd;
  };

  await prepareMountpoint(target, false);
  /** The caller of the operation being handled; read synchronously at the start of a handler. */
  const caller = (): { uid: number; gid: number } => session.caller();
  /** Gives what a caller created to that caller, as a disk does. */
  const own = async (path: string, who: { uid: number; gid: number }) => {
    if (!fs.chown || (who.uid === uid && who.gid === gid)) return;
    // In a setgid directory a new entry takes the directory's group, not the caller's.
    const dir = await fs.stat(parentPath(path)).catch(() => undefined);
    const group = dir && dir.mode & S_ISGID && dir.gid !== undefined ? dir.gid : who.gid;
    await fs.chown(path, who.uid, group);
  };

  const errno = (error: unknown, op: string, path: string): number => {
    const e = toShylockError(error, { op, path, backend: backend.name });
    options.onError?.(e, op, path);
    return -(ERRNO[e.code] ?? ERRNO.EIO);
  };
  /**
   * Operations in flight with a deadline. One sweep a second answers ETIMEDOUT for those past it,
   * so an operation costs no timer of its own; the backend call itself runs on and its late
   * answer is dropped.
   */
  const inflight = new Set<{ deadline: number; expire: () => void }>();
  /** Set once mounted: notices an unmount from outside. */
  let checkEnded: (() => void) | undefined;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const entry of inflight) if (entry.deadline <= now) entry.expire();
    checkEnded?.();
  }, 1000);
  sweep.unref();
  const MUTATING = new Set(['create', 'write', 'truncate', 'ftruncate', 'mkdir', 'rmdir', 'unlink', 'rename', 'chmod', 'chown', 'utimens', 'symlink', 'link', 'mknod', 'flush', 'release', 'setxattr', 'removexattr']);
  /** Runs an operation; answers `cb(errno)`, or `cb(0, ...result)` (`cb(count)` for read/write). */
  /**
   * Adaptive polling: waking Node's idle event loop costs more than most requests. While requests
   * keep coming, a setImmediate chain keeps the loop polling, so the next request is seen at
   * once; it stops `pollMs` after the last one.
   */
  const pollMs = options.pollMs ?? 2;
  let lastRequest = 0;
  let polling = false;
  const poll = () => {
    if (performance.now() - lastRequest < pollMs) setImmediate(poll);
    else polling = false;
  };
  const call = <T>(
    op: string,
    path: string,
    cb: (code: number, ...rest: unknown[]) => void,
    work: () => Promise<T>,
    answer: ((value: T) => unknown[]) | 'count' = () => [],
    timeout = timeoutMs,
    arm = true,
  ) => {
    if (pollMs > 0 && arm) {
      lastRequest = performance.now();
      if (!polling) {
        polling = true;
        setImmediate(poll);
      }
    }
    const mutating = MUTATING.has(op);
    if (mutating) forgetListings();
    let done = false;
    let entry: { deadline: number; expire: () => void } | undefined;
    if (timeout > 0) {
      entry = {
        deadline: performance.now() + timeout,
        expire: () => {
          if (done) return;
          done = true;
          inflight.delete(entry!);
          const e = new ShylockError('ETIMEDOUT', `${op} ${path}: no answer from ${backend.name} in ${timeout} ms`, {
            op,
            path,
            backend: backend.name,
          });
          cb(errno(e, op, path));
        },
      };
      inflight.add(entry);
    }
    work().then(
      (value) => {
        if (mutating) forgetListings(); // a listing that ran meanwhile may hold the old stat
        if (done) return;
        done = true;
        if (entry) inflight.delete(entry);
        if (answer === 'count') cb(value as number);
        else cb(0, ...answer(value));
      },
      (error: unknown) => {
        if (mutating) forgetListings();
        if (done) return;
        done = true;
        if (entry) inflight.delete(entry);
        cb(errno(error, op, path));
      },
    );
  };

  const toFuseStat = (s: Stat) => {
    const mode = TYPE_BITS[s.type];
    const size = s.size;
    return {
      mode: mode | (s.mode & 0o7777),
      uid: s.uid ?? uid,
      gid: s.gid ?? gid,
      size,
      nlink: s.nlink ?? (s.type === 'directory' ? 2 : 1),
      rdev: s.rdev ?? 0,
      blksize: 4096,
      blocks: Math.ceil(size / 512),
      // Fractional milliseconds keep sub-millisecond times.
      atime: s.atimeMs ?? s.mtimeMs,
      mtime: s.mtimeMs,
      ctime: s.ctimeMs ?? s.mtimeMs,
    };
  };
  const openFile = (path: string, fd: number): OpenFile => {
    const file = files.get(fd);
    if (!file) throw new ShylockError('EBADF', `${path}: handle ${fd} is not open`, { path });
    return file;
  };
  const need = <K extends keyof Backend>(name: K, path: string): NonNullable<Backend[K]> => {
    const fn = fs[name];
    if (typeof fn !== 'function') {
      throw new ShylockError('ENOSYS', `${String(name)} ${path}: ${backend.name} does not support it`, { path });
    }
    return (fn as (...a: unknown[]) => unknown).bind(fs) as NonNullable<Backend[K]>;
  };
  const register = async (path: string, handle: FileHandle, writable: boolean): Promise<number> => {
    let stream = false;
    if (fs.capabilities.streams) {
      stream = (await (handle.stat?.() ?? fs.stat(path)).catch(() => undefined))?.type === 'stream';
    }
    const fd = allocFd();
    const file: OpenFile = { handle, path, stream };
    files.set(fd, file);
    if (writable && handle.stat && !stream) writers.set(path, file);
    const native = handle.native;
    if (nativeIo && native && !stream && (native.read || native.write)) {
      // Its writes will not pass through call(): cached listing stats may go stale now.
      if (native.write) forgetListings();
      // Without a price the descriptor's I/O is free; with one, the first request of each
      // direction goes through JavaScript and prepays the next (refill).
      const free = native.charge ? 0 : -1;
      const flags = (native.read ? NATIVE_READ : 0) | (native.write ? NATIVE_WRITE : 0) | (native.noFlush ? NATIVE_FLUSH_NOOP : 0);
      const registered =
        native.bytes !== undefined
          ? native.read && session.native.fastOpenMemory(session.mounted, fd, native.bytes, flags, free, free)
          : native.fd !== undefined && session.native.fastOpen(session.mounted, fd, native.fd, flags, free, free, free, free);
      if (registered) {
        file.native = { charged: !!native.charge, chunk: { read: FIRST_CHUNK, write: FIRST_CHUNK } };
      }
    }
    return stream && !directIo ? fd | DIRECT_IO : fd;
  };
  /**
   * After a request of a native file went through JavaScript (its credit ran out): tops the
   * credit of that direction up to the next chunk, doubling up to MAX_CHUNK and halving when the
   * rule cannot pay, with one operation per request of the size just seen (the kernel sends a
   * sequential reader 128 KiB at a time, a random one 4 KiB): the file holds about what it will
   * use, and pays only what it lacks. While the rule cannot pay, the file's requests go through
   * JavaScript, where each waits its turn.
   */
  const refill = (fd: number, file: OpenFile, kind: 'read' | 'write', length: number) => {
    const n = file.native;
    if (!n?.charged || files.get(fd) !== file) return;
    const write = kind === 'write';
    const left = session.native.fastCredit(session.mounted, fd, write, 0, 0);
    if (!left) return;
    const bytes = n.chunk[kind];
    const needBytes = Math.max(0, bytes - left[0]);
    const needOps = Math.max(0, Math.ceil(bytes / Math.max(1, length)) - left[1]);
    if (needBytes === 0 && needOps === 0) return;
    if (!file.handle.native!.charge!(kind, needBytes, needOps)) {
      // Settle at the largest chunk the rule's burst allows.
      n.chunk[kind] = Math.max(FIRST_CHUNK, bytes / 2);
      return;
    }
    session.native.fastCredit(session.mounted, fd, write, needBytes, needOps);
    n.chunk[kind] = Math.min(MAX_CHUNK, bytes * 2);
  };
  /** Stops native I/O on fd (before its descriptor closes) and gives back unused credit. */
  const unregisterNative = (fd: number, file: OpenFile) => {
    if (!file.native) return;
    file.native = undefined;
    const left = session.native.fastClose(session.mounted, fd);
    const native = file.handle.native;
    if (!left || !native?.refund) return;
    const [rb, ro, wb, wo] = left;
    if (rb > 0 || ro > 0) native.refund('read', Math.max(0, rb), Math.max(0, ro));
    if (wb > 0 || wo > 0) native.refund('write', Math.max(0, wb), Math.max(0, wo));
  };
  /** Stats from the latest listings, for the getattr calls that follow a readdir. */
  const listingCacheMs = options.listingCacheMs ?? 1000;
  const listed = new Map<string, { stat: Stat; until: number }>();
  const forgetListings = () => {
    if (listed.size > 0) listed.clear();
  };
  /** Changes made by others (a backend with `watch`): their cached listing stats go at once. */
  const stopWatching = fs.watch?.((changed) => {
    if (changed === null) return forgetListings();
    // The path, and its directories: a new or last key makes or removes them.
    for (let p = changed; ; p = p.slice(0, p.lastIndexOf('/')) || '/') {
      listed.delete(p);
      if (p === '/') break;
    }
  });
  const statOf = (path: string) => {
    const writer = writers.get(path);
    if (writer) return writer.handle.stat!();
    const hit = listed.get(path);
    if (hit) {
      if (hit.until > performance.now()) return Promise.resolve(hit.stat);
      listed.delete(path);
    }
    return fs.stat(path);
  };

  type Cb = (code: number, ...rest: unknown[]) => void;
  const ops: FuseHandlers = {
    statfs: (path: string, cb: Cb) =>
      call(
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
    getattr: (path: string, cb: Cb) => call('getattr', path, cb, () => statOf(path), (s) => [toFuseStat(s)]),
    fgetattr: (path: string, fd: number, cb: Cb) =>
      call(
        'fgetattr',
        path,
        cb,
        async () => {
          const file = files.get(fd);
          return file?.handle.stat ? file.handle.stat() : statOf(path);
        },
        (s) => [toFuseStat(s)],
      ),
    readdir: (path: string, cb: Cb) =>
      call(
        'readdir',
        path,
        cb,
        async () => {
          const entries = await fs.list(path);
          if (listingCacheMs > 0 && entries.length > 0 && entries.every((e) => e.stat)) {
            if (listed.size > 100_000) listed.clear();
            const until = performance.now() + listingCacheMs;
            const base = path === '/' ? '' : path;
            for (const e of entries) listed.set(`${base}/${e.name}`, { stat: e.stat!, until });
          }
          return entries;
        },
        (entries) => {
          const names = ['.', '..', ...entries.map((e) => e.name)];
          if (!entries.every((e) => e.stat)) return [names];
          const dir = toFuseStat({ type: 'directory', size: 0, mode: 0o755, mtimeMs: Date.now() });
          return [names, [dir, dir, ...entries.map((e) => toFuseStat(e.stat!))]];
        },
      ),
    open: (path: string, flags: number, cb: Cb) =>
      call(
        'open',
        path,
        cb,
        async () => {
          const parsed = parseOpenFlags(flags);
          return register(path, await fs.open(path, parsed), parsed.write);
        },
        (fd) => [fd],
      ),
    create: (path: string, mode: number, openFlags: number, cb: Cb) => {
      const who = caller();
      call(
        'create',
        path,
        cb,
        async () => {
          // The kernel only calls create for a name that did not exist: open it read-write, so even
          // an O_RDONLY create stores the new file, with O_EXCL / O_APPEND / O_TRUNC as the caller
          // asked. The kernel enforces the caller's access mode.
          const asked = parseOpenFlags(openFlags);
          const flags = { read: true, write: true, create: true, exclusive: asked.exclusive, truncate: asked.truncate, append: asked.append };
          const handle = await fs.open(path, flags, { mode: mode & 0o7777 });
          try {
            await own(path, who);
          } catch (e) {
            await handle.close().catch(() => undefined);
            throw e;
          }
          return register(path, handle, true);
        },
        (fd) => [fd],
      );
    },
    read: (path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Cb) => {
      const file = files.get(fd);
      if (!file) return cb(-ERRNO.EBADF);
      call(
        'read',
        path,
        file.native?.charged ? (code, ...rest) => (cb(code, ...rest), refill(fd, file, 'read', length)) : cb,
        () => file.handle.read(length === buffer.length ? buffer : buffer.subarray(0, length), file.stream ? null : position),
        'count',
        file.stream ? 0 : timeoutMs,
        // The next read of a native file most likely needs no JavaScript: polling for it would
        // only take a core from the FUSE threads doing the copies.
        !file.native,
      );
    },
    write: (path: string, fd: number, buffer: Buffer, length: number, position: number, cb: Cb) => {
      const file = files.get(fd);
      if (!file?.handle.write) return cb(-ERRNO.EBADF);
      const write = file.handle.write.bind(file.handle);
      call(
        'write',
        path,
        file.native?.charged ? (code, ...rest) => (cb(code, ...rest), refill(fd, file, 'write', length)) : cb,
        () => write(length === buffer.length ? buffer : buffer.subarray(0, length), file.stream ? null : position),
        'count',
        timeoutMs,
        !file.native,
      );
    },
    flush: (path: string, fd: number, cb: Cb) =>
      call('flush', path, cb, async () => {
        await openFile(path, fd).handle.flush?.();
      }),
    fsync: (path: string, _datasync: boolean, fd: number, cb: Cb) =>
      call('fsync', path, cb, async () => {
        const { handle } = openFile(path, fd);
        await (handle.sync ? handle.sync() : handle.flush?.());
      }),
    release: (path: string, fd: number, cb: Cb) =>
      call('release', path, cb, async () => {
        const file = files.get(fd);
        files.delete(fd);
        if (file && writers.get(file.path) === file) writers.delete(file.path);
        if (file) unregisterNative(fd, file);
        await file?.handle.close();
      }),
    // `echo x > f` opens f, then truncates it by path: a file open for writing takes the truncate
    // itself, or a buffered handle (key/value stores) would later store its old bytes again.
    truncate: (path: string, size: number, cb: Cb) =>
      call('truncate', path, cb, async () => {
        const writer = writers.get(path);
        if (writer?.handle.truncate) return writer.handle.truncate(size);
        return need('truncate', path)(path, size);
      }),
    ftruncate: (path: string, fd: number, size: number, cb: Cb) =>
      call('ftruncate', path, cb, async () => {
        const file = openFile(path, fd);
        if (file.handle.truncate) await file.handle.truncate(size);
        else await need('truncate', path)(path, size);
      }),
    mkdir: (path: string, mode: number, cb: Cb) => {
      const who = caller();
      call('mkdir', path, cb, async () => {
        await need('mkdir', path)(path, mode & 0o7777);
        await own(path, who);
      });
    },
    rmdir: (path: string, cb: Cb) => call('rmdir', path, cb, () => need('rmdir', path)(path)),
    unlink: (path: string, cb: Cb) =>
      call('unlink', path, cb, async () => {
        await need('unlink', path)(path);
        writers.delete(path);
      }),
    rename: (from: string, to: string, cb: Cb) =>
      call('rename', from, cb, async () => {
        await need('rename', from)(from, to);
        const writer = writers.get(from);
        writers.delete(from);
        if (writer) writers.set(to, writer);
      }),
    chmod: (path: string, mode: number, cb: Cb) => call('chmod', path, cb, () => need('chmod', path)(path, mode & 0o7777)),
    chown: (path: string, owner: number, group: number, cb: Cb) =>
      call('chown', path, cb, async () => {
        if (fs.chown) return fs.chown(path, owner, group);
        // A backend without owners: accept a change to what it already reports.
        const s = await fs.stat(path);
        const same = (owner === 0xffffffff || owner === (s.uid ?? uid)) && (group === 0xffffffff || group === (s.gid ?? gid));
        if (!same) throw new ShylockError('EPERM', `chown ${path}: ${backend.name} has no owners`, { path });
      }),
    utimens: (path: string, atime: number, mtime: number, cb: Cb) =>
      call('utimens', path, cb, async () => {
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
      call('mknod', path, cb, async () => {
        await need('mknod', path)(path, mode, dev);
        await own(path, who);
      });
    },
    readlink: (path: string, cb: Cb) => call('readlink', path, cb, () => need('readlink', path)(path), (t) => [t]),
    symlink: (target: string, path: string, cb: Cb) => {
      const who = caller();
      call('symlink', path, cb, async () => {
        await need('symlink', path)(target, path);
        await own(path, who);
      });
    },
    link: (from: string, to: string, cb: Cb) => call('link', to, cb, () => need('link', to)(from, to)),
    // Extended attributes, where the backend has them. The kernel asks for security.capability
    // before every write: a backend with nativeRoot has getxattr and listxattr answered on the
    // FUSE threads, and "no such attribute" (ENODATA) is an answer, not an error to log.
    ...(fs.getxattr
      ? {
          getxattr: (path: string, name: string, _position: number, cb: Cb) =>
            call(
              'getxattr',
              path,
              cb,
              () => fs.getxattr!(path, name).catch((e: unknown) => (isShylockError(e) && e.code === 'ENODATA' ? undefined : Promise.reject(e))),
              // No value: the binding answers ENODATA.
              (value) => [value],
            ),
          listxattr: (path: string, cb: Cb) => call('listxattr', path, cb, () => need('listxattr', path)(path), (names) => [names]),
          setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Cb) =>
            call('setxattr', path, cb, () => need('setxattr', path)(path, name, value, flags)),
          removexattr: (path: string, name: string, cb: Cb) => call('removexattr', path, cb, () => need('removexattr', path)(path, name)),
        }
      : {}),
  };

  const attrTimeout = options.attrTimeout ?? 0;
  // libfuse 3 always sends large writes; max_write and max_readahead are settings of its init.
  let maxWrite = MAX_REQUEST;
  let maxReadahead = MAX_REQUEST;
  const extra: string[] = [];
  for (const option of options.fuseOptions ?? []) {
    const [key, value] = option.split('=', 2) as [string, string | undefined];
    if (key === 'big_writes') continue;
    if (key === 'max_write' && value) maxWrite = Number(value);
    else if (key === 'max_readahead' && value) maxReadahead = Number(value);
    else extra.push(option);
  }
  const kernelOptions = [
    `fsname=${options.fsname ?? `shylock-${backend.name}`}`,
    'subtype=shylock',
    ...(options.allowOther ? ['allow_other'] : []),
    ...(options.defaultPermissions === false ? [] : ['default_permissions']),
    `attr_timeout=${attrTimeout}`,
    `entry_timeout=${attrTimeout}`,
    // Missing names are never cached: a key another client creates appears at once.
    'negative_timeout=0',
    ...(directIo ? ['direct_io'] : []),
    ...extra,
  ];
  let onEnded = () => {};
  const session = new FuseSession(target, ops, {
    options: kernelOptions,
    maxWrite,
    maxReadahead,
    maxRead: options.maxRead ?? MAX_REQUEST,
    onEnded: () => onEnded(),
  });
  try {
    session.mount();
  } catch (err) {
    clearInterval(sweep);
    stopWatching?.();
    throw new ShylockError('EIO', `could not mount ${target}: ${(err as Error).message}`, { op: 'mount', path: target, cause: err });
  }
  /** Rules changed: native I/O prepaid under the old ones stops at once (the next request pays anew). */
  const stopRevoking = nativeIo ? options.qos?.onChange?.(() => session.native.fastRevoke(session.mounted)) : undefined;

  // A directory passed through: getattr is lstat on the FUSE threads, fgetattr of a native handle
  // fstat of its descriptor. Off if the directory can't be opened (the backend then answers).
  if (nativeIo && fs.nativeRoot !== undefined) session.native.fastRoot(session.mounted, fs.nativeRoot);
  // onError sees every failure: native requests that fail are answered by the handlers instead.
  if (nativeIo && options.onError) session.native.fastReportErrors(session.mounted, true);

  let unmounting: Promise<void> | undefined;
  let closedNow: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedNow = resolve));
  const unmount = () => {
    unmounting ??= (async () => {
      try {
        await session.unmount();
      } catch {
        await unmountPath(target);
      }
      clearInterval(sweep);
      stopWatching?.();
      stopRevoking?.();
      const open = [...files.values()];
      for (const [fd, file] of files) unregisterNative(fd, file);
      files.clear();
      await Promise.allSettled(open.map((f) => f.handle.close()));
      await fs.close();
    })().finally(() => closedNow());
    return unmounting;
  };
  checkEnded = () => {
    if (!unmounting && session.ended()) void unmount().catch(() => undefined);
  };
  onEnded = () => checkEnded?.();
  return { mountpoint: target, backend: fs, unmount, closed, [Symbol.asyncDispose]: unmount };
}

/**
 * Extended attributes of host files (l*xattr on a path, a symlink's own), synchronous, from
 * shylock's build of the FUSE binding: give it to `localBackend({ root, xattrs: hostXattr })` so a
 * local directory has extended attributes (Node's `fs` has no calls for them). 'get' returns the
 * value, 'list' the names NUL-terminated, 'set' and 'remove' 0; a failure returns -errno.
 */
export const hostXattr: HostXattr = (op, path, name, value, flags) => {
  const code = { get: 0, set: 1, list: 2, remove: 3 }[op];
  if (code === undefined) throw new TypeError('hostXattr: op is get, set, list or remove');
  return loadNative().hostXattr(code, path, name ?? '', value ?? Buffer.alloc(0), flags ?? 0);
};
