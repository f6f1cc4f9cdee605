import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ERRNO, nameBytes, ShylockError } from '@shylock/core';

const run = promisify(execFile);

/** The native module (binding/shylock_fuse.c). */
export interface NativeModule {
  mount(
    mountpoint: string,
    options: string[],
    dispatch: (op: number, id: number, path: string, a: unknown, b: unknown, c: unknown) => void,
    io: Float64Array,
    maxThreads: number,
    maxWrite: number,
    maxReadahead: number,
    maxRead: number,
    useIno: boolean,
  ): object;
  reply(mount: object, id: number, result: number, a?: unknown, b?: unknown): void;
  stop(mount: object): void;
  detach(path: string): number;
  ended(mount: object): boolean;
  fastOpen(mount: object, fh: number, fd: number, flags: number, rb: number, ro: number, wb: number, wo: number): boolean;
  fastOpenMemory(mount: object, fh: number, bytes: Uint8Array, flags: number, rb: number, ro: number): boolean;
  fastCredit(mount: object, fh: number, write: boolean, bytes: number, ops: number): [number, number] | null;
  fastClose(mount: object, fh: number): [number, number, number, number] | null;
  fastStreamOpen(mount: object, fh: number): boolean;
  fastStreamFeed(mount: object, fh: number, lines: readonly Uint8Array[], skip: number): number;
  fastStreamQueued(mount: object, fh: number): number;
  fastRevoke(mount: object): void;
  fastPrefetch(mount: object, on: boolean): void;
  fastForget(mount: object): void;
  fastListed(mount: object, ms: number): void;
  fastForgetListed(mount: object): void;
  fastPrefetchCounts(mount: object): [number, number];
  invalidate(mount: object, paths: string[]): void;
  fastRoot(mount: object, dir: string): boolean;
  fastReportErrors(mount: object, on: boolean): boolean;
  hostXattr(op: number, path: string | Buffer, name: string, value: Uint8Array, flags: number): Buffer | number;
  hostMknod(path: string | Buffer, mode: number, dev: number): number;
  version(): number;
}

/** errno of an interrupted system call. */
const EINTR = 4;

/** Operation numbers, shared with binding/shylock_fuse.c. */
export const OP = {
  getattr: 0,
  fgetattr: 1,
  readdir: 2,
  open: 3,
  create: 4,
  read: 5,
  write: 6,
  flush: 7,
  fsync: 8,
  release: 9,
  truncate: 10,
  ftruncate: 11,
  mkdir: 12,
  rmdir: 13,
  unlink: 14,
  rename: 15,
  chmod: 16,
  chown: 17,
  utimens: 18,
  mknod: 19,
  readlink: 20,
  symlink: 21,
  link: 22,
  getxattr: 23,
  listxattr: 24,
  setxattr: 25,
  removexattr: 26,
  statfs: 27,
  /** Not a request: the kernel asks to interrupt request `id` (its caller got a signal). */
  interrupt: 254,
  end: 255,
} as const;

/**
 * What a read or write handler answers for a native file whose credit it has just topped up: the
 * FUSE thread then does the I/O itself instead of JavaScript.
 */
export const SERVE_NATIVE = -1_000_000;
/** Or'ed into the handle an open answers: that open bypasses the page cache. */
export const DIRECT_IO = 0x40000000;
/** A utimens time of "leave it as it is" (UTIME_OMIT) arrives as this many milliseconds, or more. */
export const OMITTED = 2 ** 63;
/** Flags of fastOpen. */
export const NATIVE_READ = 1;
export const NATIVE_WRITE = 2;
export const NATIVE_FLUSH_NOOP = 4;

const IO_CALLER = 0;
const IO_STAT = 4;
const IO_STATFS = 16;
const STAT_FIELDS = 12;

/** The attributes a getattr answers (times in milliseconds, fractions kept). */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
  /** The inode number (used with `use_ino`; 0 lets libfuse number the node). */
  ino: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** An operation's answer: 0 (or a count, a handle) with its values, or a negative errno. */
export type Reply = (code: number, ...values: unknown[]) => void;

/**
 * The handlers a mount serves, one per operation (each answers through its last argument).
 * Missing ones answer ENOSYS (extended attributes: ENOTSUP).
 */
export interface FuseHandlers {
  getattr(path: string, cb: Reply): void;
  fgetattr(path: string, fh: number, cb: Reply): void;
  readdir(path: string, cb: Reply): void;
  open(path: string, flags: number, cb: Reply): void;
  create(path: string, mode: number, flags: number, cb: Reply): void;
  /**
   * `interruptible()` gives a signal that aborts when the caller is interrupted (Ctrl-C on a read
   * waiting on a stream); a read that can't wait long need not ask for one.
   */
  read(path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Reply, interruptible?: () => AbortSignal): void;
  write(path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Reply): void;
  flush(path: string, fh: number, cb: Reply): void;
  fsync(path: string, datasync: boolean, fh: number, cb: Reply): void;
  release(path: string, fh: number, cb: Reply): void;
  truncate(path: string, size: number, cb: Reply): void;
  ftruncate(path: string, fh: number, size: number, cb: Reply): void;
  mkdir(path: string, mode: number, cb: Reply): void;
  rmdir(path: string, cb: Reply): void;
  unlink(path: string, cb: Reply): void;
  rename(from: string, to: string, cb: Reply): void;
  chmod(path: string, mode: number, cb: Reply): void;
  chown(path: string, uid: number, gid: number, cb: Reply): void;
  utimens(path: string, atime: number, mtime: number, cb: Reply): void;
  mknod(path: string, mode: number, dev: number, cb: Reply): void;
  readlink(path: string, cb: Reply): void;
  symlink(target: string, path: string, cb: Reply): void;
  link(from: string, to: string, cb: Reply): void;
  getxattr?(path: string, name: string, position: number, cb: Reply): void;
  listxattr?(path: string, cb: Reply): void;
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Reply): void;
  removexattr?(path: string, name: string, cb: Reply): void;
  statfs(path: string, cb: Reply): void;
}

/** Who made the request being handled. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

/**
 * What the FUSE handlers need of a mount's binding: who called, and the native handle table.
 * `FuseSession` is the real one; tests give a fake.
 */
export interface NativeSession {
  caller(): Caller;
  fastOpen(fh: number, fd: number, flags: number, rb: number, ro: number, wb: number, wo: number): boolean;
  fastOpenMemory(fh: number, bytes: Uint8Array, flags: number, rb: number, ro: number): boolean;
  /** Adds credit; returns what that direction then holds [bytes, ops] (-1: unlimited), or null. */
  fastCredit(fh: number, write: boolean, bytes: number, ops: number): [number, number] | null;
  /** Forgets fh; returns its credit left [readBytes, readOps, writeBytes, writeOps], or null. */
  fastClose(fh: number): [number, number, number, number] | null;
  /** Makes fh a stream whose reads take the bytes fed to it first, on the FUSE threads. */
  fastStreamOpen?(fh: number): boolean;
  /**
   * Copies lines behind what the stream fh holds, a newline after each, the first from byte skip
   * on; returns what fh then holds, or -1.
   */
  fastStreamFeed?(fh: number, lines: readonly Uint8Array[], skip: number): number;
  /** The bytes fed to the stream fh and not read yet. */
  fastStreamQueued?(fh: number): number;
}

let native: NativeModule | undefined;

/** Loads the native module, with a one-line message saying what to install when it can't. */
export function loadNative(): NativeModule {
  if (native) return native;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'shylock-fuse.node'),
    join(root, 'build', 'shylock-fuse.node'),
  ];
  const found = candidates.filter((f) => existsSync(f));
  const fail = (message: string, cause?: unknown): never => {
    throw new ShylockError('EIO', message, { op: 'mount', cause });
  };
  if (process.platform !== 'linux') fail(`@shylock/fuse runs on Linux only, not ${process.platform}`);
  if (!existsSync('/dev/fuse'))
    fail('/dev/fuse is missing: this machine cannot mount FUSE file systems (modprobe fuse; in a container, pass --device /dev/fuse)');
  if (found.length === 0) {
    fail(
      `@shylock/fuse has no prebuilt binary for linux-${process.arch}: build one with node ${join(root, 'scripts', 'build-binding.mjs')} --local (needs gcc, pkg-config and libfuse3-dev)`,
    );
  }
  const require = createRequire(import.meta.url);
  let last: unknown;
  for (const file of found) {
    try {
      native = require(file) as NativeModule;
      return native;
    } catch (e) {
      last = e;
    }
  }
  const message = (last as Error).message;
  if (/libfuse3\.so/.test(message)) {
    return fail('libfuse 3 is missing: install it (Debian/Ubuntu: apt-get install fuse3; Fedora: dnf install fuse3 fuse3-libs)', last);
  }
  if (/GLIBC_|FUSE_3\./.test(message)) {
    return fail(
      `the prebuilt FUSE binding needs glibc 2.34 and libfuse 3.12 or newer (${message.split(':').pop()!.trim()}): build one for this system with node ${join(root, 'scripts', 'build-binding.mjs')} --local`,
      last,
    );
  }
  return fail(`the FUSE binding could not load: ${message}`, last);
}

function writeStat(io: Float64Array, at: number, s: FuseStat): void {
  io[at] = s.mode;
  io[at + 1] = s.uid;
  io[at + 2] = s.gid;
  io[at + 3] = s.size;
  io[at + 4] = s.nlink;
  io[at + 5] = s.rdev;
  io[at + 6] = s.blksize;
  io[at + 7] = s.blocks;
  io[at + 8] = s.atime;
  io[at + 9] = s.mtime;
  io[at + 10] = s.ctime;
  io[at + 11] = s.ino;
}

/** Options of a {@link FuseSession}. */
export interface SessionOptions {
  /** libfuse and kernel options (`-o` list): `fsname=…`, `allow_other`, `attr_timeout=…` … */
  options: string[];
  maxThreads?: number;
  maxWrite?: number;
  maxReadahead?: number;
  /** Largest read request; also given as the `max_read` option. */
  maxRead?: number;
  /** getattr's inode numbers are shown (libfuse's use_ino), else libfuse numbers the nodes. */
  useIno?: boolean;
  /** Called on the main thread once the kernel has ended the mount (unmounted, also from outside). */
  onEnded?: () => void;
}

/** One mount through the native binding: requests go to `handlers`, answers back to the kernel. */
export class FuseSession implements NativeSession {
  readonly native: NativeModule;
  private handle: object | undefined;
  private readonly io = new Float64Array(32);
  /** Reads in progress that an interrupt may abort (those that asked), by request id. */
  private readonly interrupts = new Map<number, AbortController>();
  private stopped = false;
  private endedNow = false;

  constructor(
    readonly mountpoint: string,
    private readonly handlers: FuseHandlers,
    private readonly options: SessionOptions,
  ) {
    this.native = loadNative();
  }

  /** The caller of the request being handled (read synchronously at the start of a handler). */
  caller(): Caller {
    const io = this.io;
    return { uid: io[IO_CALLER]!, gid: io[IO_CALLER + 1]!, pid: io[IO_CALLER + 2]!, umask: io[IO_CALLER + 3]! };
  }

  fastOpen(fh: number, fd: number, flags: number, rb: number, ro: number, wb: number, wo: number): boolean {
    return this.native.fastOpen(this.mounted, fh, fd, flags, rb, ro, wb, wo);
  }

  fastOpenMemory(fh: number, bytes: Uint8Array, flags: number, rb: number, ro: number): boolean {
    return this.native.fastOpenMemory(this.mounted, fh, bytes, flags, rb, ro);
  }

  fastCredit(fh: number, write: boolean, bytes: number, ops: number): [number, number] | null {
    return this.native.fastCredit(this.mounted, fh, write, bytes, ops);
  }

  fastClose(fh: number): [number, number, number, number] | null {
    return this.native.fastClose(this.mounted, fh);
  }

  fastStreamOpen(fh: number): boolean {
    return this.native.fastStreamOpen(this.mounted, fh);
  }

  fastStreamFeed(fh: number, lines: readonly Uint8Array[], skip: number): number {
    return this.native.fastStreamFeed(this.mounted, fh, lines, skip);
  }

  fastStreamQueued(fh: number): number {
    return this.native.fastStreamQueued(this.mounted, fh);
  }

  /** Every prepaid credit drops to 0 (the rules changed). */
  fastRevoke(): void {
    this.native.fastRevoke(this.mounted);
  }

  /**
   * With `on`, a file's content given with its stat (Stat.content) is kept for 200 ms, and a
   * read-only open of that path meanwhile is served on the FUSE threads from it, start to
   * release, no JavaScript. Off drops what is kept.
   */
  fastPrefetch(on: boolean): void {
    this.native.fastPrefetch(this.mounted, on);
  }

  /** Contents kept, and contents taken by an open, since the mount began. */
  fastPrefetchCounts(): [number, number] {
    return this.native.fastPrefetchCounts(this.mounted);
  }

  /** Drops the contents kept for opens (something changed through the mount). */
  fastForget(): void {
    this.native.fastForget(this.mounted);
  }

  /**
   * For `ms` after a listing with stats, the FUSE threads answer the lookups of its names from
   * those stats, without JavaScript (what the mount's ListingCache would answer). 0: never.
   */
  fastListed(ms: number): void {
    this.native.fastListed(this.mounted, ms);
  }

  /** Drops the listed stats the FUSE threads hold (something changed). */
  fastForgetListed(): void {
    this.native.fastForgetListed(this.mounted);
  }

  /** Drops the kernel's cached pages and attributes of these files (asynchronously). */
  invalidate(paths: string[]): void {
    if (paths.length > 0) this.native.invalidate(this.mounted, paths);
  }

  /** getattr and xattr reads below dir are answered on the FUSE threads; false if dir can't open. */
  fastRoot(dir: string): boolean {
    return this.native.fastRoot(this.mounted, dir);
  }

  /** While on, failed native getattr and I/O are handed to the handlers (so onError sees them). */
  fastReportErrors(on: boolean): void {
    this.native.fastReportErrors(this.mounted, on);
  }

  /** Mounts; throws with libfuse's reason when the kernel or libfuse refuses. */
  mount(): void {
    const o = this.options;
    const options = o.maxRead ? [...o.options, `max_read=${o.maxRead}`] : o.options;
    this.handle = this.native.mount(
      this.mountpoint,
      options,
      (op, id, path, a, b, c) => this.dispatch(op, id, path, a, b, c),
      this.io,
      o.maxThreads ?? 256,
      o.maxWrite ?? 0,
      o.maxReadahead ?? 0,
      o.maxRead ?? 0,
      o.useIno ?? false,
    );
  }

  /** The mount handle, for the native fast paths. */
  private get mounted(): object {
    if (!this.handle) throw new ShylockError('EIO', 'not mounted', { op: 'mount' });
    return this.handle;
  }

  /** True once the kernel has ended the mount's connection. */
  ended(): boolean {
    return this.endedNow || (this.handle !== undefined && this.native.ended(this.handle));
  }

  /**
   * Unmounts lazily (open files keep a detached mount until closed) and answers every waiting
   * request; later requests answer EIO. The process may exit from then on.
   */
  async unmount(): Promise<void> {
    if (!this.handle || this.stopped) return;
    this.stopped = true;
    this.native.stop(this.handle);
    if (this.ended()) return;
    const r = this.native.detach(this.mountpoint);
    if (r === 0 || r === -ERRNO.EINVAL) return; // EINVAL: not a mountpoint (any more)
    await run('fusermount3', ['-uz', this.mountpoint]).catch(() => run('fusermount', ['-uz', this.mountpoint]));
  }

  private dispatch(op: number, id: number, path: string, a: unknown, b: unknown, c: unknown): void {
    if (op === OP.interrupt) {
      // `path` is unused here; the request's id comes as the second argument.
      // A read still parked (the binding checked): one that has not asked for its signal yet
      // (waiting for QoS credit) finds it aborted when it does; its answer drops the entry.
      let interrupt = this.interrupts.get(id);
      if (!interrupt) this.interrupts.set(id, (interrupt = new AbortController()));
      interrupt.abort();
      return;
    }
    if (op === OP.end) {
      this.endedNow = true;
      this.options.onEnded?.();
      return;
    }
    const native = this.native;
    const m = this.handle!;
    const h = this.handlers;
    const io = this.io;
    const done: Reply = (code) => native.reply(m, id, code);
    try {
      switch (op) {
        case OP.getattr:
        case OP.fgetattr: {
          const cb: Reply = (code, st, content) => {
            if (code === 0) writeStat(io, IO_STAT, st as FuseStat);
            native.reply(m, id, code, content);
          };
          return op === OP.getattr ? h.getattr(path, cb) : h.fgetattr(path, a as number, cb);
        }
        case OP.readdir:
          return h.readdir(path, (code, names, stats) => {
            if (code !== 0) return native.reply(m, id, code);
            const list = names as string[];
            let packed: Float64Array | undefined;
            if (stats) {
              packed = new Float64Array(list.length * STAT_FIELDS);
              (stats as FuseStat[]).forEach((s, i) => writeStat(packed!, i * STAT_FIELDS, s));
            }
            native.reply(m, id, 0, list, packed);
          });
        case OP.open:
          return h.open(path, a as number, (code, fh) => native.reply(m, id, code === 0 ? (fh as number) : code));
        case OP.create:
          return h.create(path, a as number, b as number, (code, fh) => native.reply(m, id, code === 0 ? (fh as number) : code));
        case OP.read: {
          // libfuse's own buffer, lent until the answer (then detached): read into it directly.
          const buffer = b as Buffer;
          return h.read(
            path,
            a as number,
            buffer,
            buffer.length,
            c as number,
            (code, ...rest) => {
              const interrupt = this.interrupts.size > 0 ? this.interrupts.get(id) : undefined;
              if (interrupt) this.interrupts.delete(id);
              // A read the caller's signal cut short answers EINTR, as the kernel expects.
              native.reply(m, id, interrupt?.signal.aborted && code < 0 ? -EINTR : code, ...rest);
            },
            // Made only for the reads that may wait (streams): most reads never need one.
            () => {
              let interrupt = this.interrupts.get(id);
              if (!interrupt) this.interrupts.set(id, (interrupt = new AbortController()));
              return interrupt.signal;
            },
          );
        }
        case OP.write: {
          const buffer = b as Buffer;
          return h.write(path, a as number, buffer, buffer.length, c as number, done);
        }
        case OP.flush:
          return h.flush(path, a as number, done);
        case OP.fsync:
          return h.fsync(path, (a as number) !== 0, b as number, done);
        case OP.release:
          return h.release(path, a as number, done);
        case OP.truncate:
          return h.truncate(path, a as number, done);
        case OP.ftruncate:
          return h.ftruncate(path, a as number, b as number, done);
        case OP.mkdir:
          return h.mkdir(path, a as number, done);
        case OP.rmdir:
          return h.rmdir(path, done);
        case OP.unlink:
          return h.unlink(path, done);
        case OP.rename:
          return h.rename(path, a as string, done);
        case OP.chmod:
          return h.chmod(path, a as number, done);
        case OP.chown:
          return h.chown(path, a as number, b as number, done);
        case OP.utimens:
          return h.utimens(path, a as number, b as number, done);
        case OP.mknod:
          return h.mknod(path, a as number, b as number, done);
        case OP.readlink:
          return h.readlink(path, (code, target) => native.reply(m, id, code, target));
        case OP.symlink:
          return h.symlink(path, a as string, done);
        case OP.link:
          return h.link(path, a as string, done);
        case OP.getxattr:
          if (!h.getxattr) return native.reply(m, id, -ERRNO.ENOTSUP);
          return h.getxattr(path, a as string, 0, (code, value) => native.reply(m, id, code, value));
        case OP.listxattr:
          if (!h.listxattr) return native.reply(m, id, -ERRNO.ENOTSUP);
          return h.listxattr(path, (code, names) => native.reply(m, id, code, code === 0 ? xattrList(names) : undefined));
        case OP.setxattr:
          if (!h.setxattr) return native.reply(m, id, -ERRNO.ENOTSUP);
          return h.setxattr(path, a as string, b as Buffer, 0, c as number, done);
        case OP.removexattr:
          if (!h.removexattr) return native.reply(m, id, -ERRNO.ENOTSUP);
          return h.removexattr(path, a as string, done);
        case OP.statfs:
          return h.statfs(path, (code, s) => {
            if (code === 0) {
              const v = s as FuseStatfs;
              const fields = [v.bsize, v.frsize, v.blocks, v.bfree, v.bavail, v.files, v.ffree, v.favail, v.fsid, v.flag, v.namemax];
              fields.forEach((x, i) => (io[IO_STATFS + i] = x));
            }
            native.reply(m, id, code);
          });
        default:
          return native.reply(m, id, -ERRNO.ENOSYS);
      }
    } catch {
      // A handler that throws instead of answering: the FUSE thread must not wait forever.
      native.reply(m, id, -ERRNO.EIO);
    }
  }
}

/** Extended attribute names as the kernel wants them: each NUL-terminated, in one buffer. */
function xattrList(names: unknown): Buffer {
  if (Buffer.isBuffer(names)) return names;
  return Buffer.concat((names as string[]).flatMap((n) => [nameBytes(n), Buffer.alloc(1)]));
}
