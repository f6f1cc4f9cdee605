/**
 * The backend contract: what a file resource must do to be mounted, composed, throttled and
 * tested by shylock. Every method rejects only with a {@link ShylockError}; the codes each one
 * uses are listed on it.
 */
import type { ShylockError } from './errors.js';

/**
 * What kind of thing a path is. A `stream` is a message channel (pub/sub, topic, queue);
 * `fifo`, `socket`, `chardev` and `blockdev` are special files made by `mknod` (their I/O is the
 * kernel's, not the backend's).
 */
export type FileType = 'file' | 'directory' | 'stream' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/** Metadata of a path. Times are milliseconds since the epoch. */
export interface Stat {
  type: FileType;
  /** Bytes; 0 for streams and where unknown. */
  size: number;
  /** Permission bits only (`0o644`), never the file type bits. */
  mode: number;
  mtimeMs: number;
  ctimeMs?: number;
  atimeMs?: number;
  birthtimeMs?: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  /**
   * The size of I/O the store does best, in bytes (st_blksize): programs size their buffers by it
   * (`cp` writes in pieces of it). Default 4096.
   */
  blksize?: number;
  /** Device number of a `chardev` or `blockdev`. */
  rdev?: number;
  /**
   * The file's inode number, where the store has one (a local file's): hard links share it. The
   * FUSE adapter shows it for backends with `nativeRoot` (else the kernel numbers nodes itself).
   */
  ino?: number;
  /**
   * The file's whole content, when the stat fetched it anyway (a key/value store's get brings the
   * value with its size). A FUSE mount may then answer a read-only open of the file that follows
   * within moments from it, without asking the backend again. At most {@link STAT_CONTENT_MAX}
   * bytes; never set in a listing's stats.
   */
  content?: Uint8Array;
}

/**
 * The largest {@link Stat.content} worth handing over (1 MiB, what one FUSE request carries): the
 * FUSE adapter keeps nothing larger.
 */
export const STAT_CONTENT_MAX = 1 << 20;

/** One entry of a directory listing. `stat`, when present, saves a `stat` call per entry. */
export interface DirEntry {
  name: string;
  type: FileType;
  stat?: Stat;
}

/** Options every operation takes. */
export interface OpOptions {
  /** Aborts the operation; it then rejects with ECANCELED. */
  signal?: AbortSignal;
}

/** Options of {@link Backend.stat}. */
export interface StatOptions extends OpOptions {
  /**
   * The caller will most likely read the whole file right after (a FUSE lookup that opens mostly
   * follow): bring its content along (Stat.content, up to STAT_CONTENT_MAX) where that costs the
   * stat no round trip of its own, even if it costs bytes. Without it, a backend brings content
   * only where it comes for free or nearly.
   */
  content?: boolean;
}

/** Options of {@link Backend.open}. */
export interface OpenOptions extends OpOptions {
  /** Permission bits of a file that `open` creates (default 0o644); ignored where files have none. */
  mode?: number;
}

/**
 * How a file is opened. Use {@link parseOpenFlags} to build one from Node's `'r'`, `'w'`, `'a+'`
 * … strings or from numeric `O_*` flags.
 */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  /** Create the file when it does not exist (O_CREAT). */
  create: boolean;
  /** With `create`: fail with EEXIST when it exists (O_EXCL). */
  exclusive: boolean;
  /** Empty the file on open (O_TRUNC). */
  truncate: boolean;
  /** Every write goes to the end, whatever its position (O_APPEND). */
  append: boolean;
}

/**
 * What a backend can do. A capability is true exactly when the matching operation works; the
 * conformance suite runs the tests of each true capability.
 */
export interface Capabilities {
  /** `open` for reading and `FileHandle.read`. */
  read: boolean;
  /** `open` for writing and `FileHandle.write`. */
  write: boolean;
  /** `list`. */
  list: boolean;
  /** `mkdir` and `rmdir`: directories exist on their own, empty or not. */
  directories: boolean;
  /** `unlink`. */
  unlink: boolean;
  /** `rename` of files (and of directories when `directories` is true). */
  rename: boolean;
  /** `truncate` and `FileHandle.truncate`. */
  truncate: boolean;
  /** Writes at any position, not only at the end. */
  randomWrite: boolean;
  /** Opening an existing file with `append`. */
  append: boolean;
  /** Paths of type `stream` exist. */
  streams: boolean;
  /** `symlink` and `readlink`. */
  symlinks: boolean;
  /** `link` (hard links). */
  hardLinks: boolean;
  /** `chown`: files have owners that can change. */
  chown: boolean;
  /** `mknod`: FIFOs, sockets and device nodes. */
  specialFiles: boolean;
  /** `chmod`. */
  chmod: boolean;
  /** `utimes`. */
  utimes: boolean;
  /**
   * Names may carry bytes that are not UTF-8, as Linux names may (each such byte a lone surrogate
   * U+DC80..U+DCFF in the path; see `nameBytes`). Without it such a path rejects EILSEQ.
   */
  byteNames: boolean;
  /** `getxattr`, `setxattr`, `listxattr` and `removexattr`: extended attributes. */
  xattrs: boolean;
  /** `copy`: a file copied inside the store, without its bytes passing through the caller. */
  copy: boolean;
}

/**
 * An open file. A handle is used by one caller at a time per call, but calls may overlap.
 *
 * For a random-access file, `read` and `write` take a byte position (`null` = the handle's own
 * cursor, which they advance). For a stream, `position` is ignored: `read` waits until at least
 * one message is available and returns it newline-terminated (never 0 while the handle is open),
 * and each line written is one message.
 */
export interface FileHandle {
  /**
   * Reads into `buffer` and resolves with the number of bytes read; 0 means end of file.
   * Rejects EBADF when not opened for reading or already closed, EIO/ETIMEDOUT on backend faults.
   */
  read(buffer: Uint8Array, position: number | null, options?: OpOptions): Promise<number>;
  /**
   * Writes `data` and resolves with the number of bytes accepted. A backend may buffer until
   * `flush`/`close`. Rejects EBADF when not opened for writing, EFBIG/ENOSPC over a limit.
   */
  write?(data: Uint8Array, position: number | null, options?: OpOptions): Promise<number>;
  /** Sets the size of the open file. Rejects EBADF when not writable, EINVAL for a negative size. */
  truncate?(size: number): Promise<void>;
  /** The file's current metadata, including writes not yet flushed. */
  stat?(): Promise<Stat>;
  /**
   * The durability point: fsync / upload / produce-ack. Rejects (EIO, EFBIG, ETIMEDOUT …) when
   * what was written could not be stored; the data stays buffered so a later flush may retry.
   */
  flush?(): Promise<void>;
  /**
   * Makes written data durable on the storage itself (fsync). Where absent, `flush` is the
   * durability point. The FUSE adapter calls it for fsync(2); `flush` for every close(2).
   */
  sync?(): Promise<void>;
  /**
   * Commits what `flush` did not and releases the handle. Errors of that last commit surface
   * HERE: a close that resolves means the data is stored. Closing twice resolves.
   */
  close(): Promise<void>;
  /**
   * The file's data as an operating-system file descriptor, where reads and writes on it are
   * exactly what `read` and `write` would do (a local file), or as bytes in memory (a value a
   * read-only handle holds). An adapter may then do that I/O itself: the FUSE adapter serves such reads and writes on its own threads, with no round trip
   * to JavaScript. A layer that must see every read or write leaves this out, or passes `charge`.
   */
  readonly native?: NativeFile;
  /**
   * A stream's bytes received and not yet read, for an adapter that serves reads itself (the FUSE
   * adapter's threads). A layer that must see every read leaves this out.
   */
  readonly spill?: StreamSpill;
}

/** See {@link FileHandle.spill}. */
export interface StreamSpill {
  /**
   * Hands over every byte received and not yet read, as reads would return them, or undefined
   * when there is none; the handle no longer holds them. Taken after a read, when what was handed
   * over before has all been read.
   */
  take(): SpilledLines | undefined;
  /**
   * Before `close`: how many bytes of the last hand-over were never read. Their messages count
   * as not read (a task queue gives them back); a line read in part counts as read.
   */
  unread(bytes: number): void;
}

/**
 * What {@link StreamSpill.take} hands over: the messages as received (no copy), each read with a
 * newline after it, starting `skip` bytes into the first one (a read took those already).
 */
export interface SpilledLines {
  readonly lines: readonly Uint8Array[];
  readonly skip: number;
}

/** See {@link FileHandle.native}. One of `fd` and `bytes`. */
export interface NativeFile {
  /** A descriptor whose reads and writes are the handle's own. */
  readonly fd?: number;
  /**
   * Or the file's whole contents, for a handle that only reads a value it holds in memory; nobody
   * changes them while the handle is open.
   */
  readonly bytes?: Uint8Array;
  /** The descriptor may be read / written through (the handle's open flags). */
  readonly read: boolean;
  readonly write: boolean;
  /**
   * True when the handle's `flush` has nothing to do (what was written to the descriptor is
   * already in the kernel): an adapter may answer flushes itself.
   */
  readonly noFlush?: boolean;
  /**
   * Pays in advance for `bytes` bytes in `ops` operations done on the descriptor itself: true when
   * paid, false having taken nothing (then the I/O goes through `read`/`write`). Absent: free.
   */
  charge?(kind: 'read' | 'write', bytes: number, ops: number): boolean;
  /** Gives back what `charge` took and was not used (at close). */
  refund?(kind: 'read' | 'write', bytes: number, ops: number): void;
}

/**
 * A file resource: a directory, a key/value store, a message queue, an object store. Paths are
 * absolute POSIX paths inside the backend; callers pass them through {@link normalizePath}
 * (the FUSE adapter, `compose` and the layers do) — a backend may trust them.
 */
export interface Backend {
  /** Short name used in errors and metrics: `'memory'`, `'etcd'`. */
  readonly name: string;
  readonly capabilities: Readonly<Capabilities>;
  /**
   * Set when every path P of this backend is the host file `nativeRoot + P` and `stat(P)` is what
   * `lstat` of it reports (a local directory passed through), and `getxattr`/`listxattr`, where
   * present, are the host file's own. An adapter may then answer those itself: the FUSE adapter
   * does it on its FUSE threads. A layer that changes them leaves `nativeRoot` out.
   */
  readonly nativeRoot?: string;
  /** Rejects ENOENT when missing, ENOTDIR when a parent is a file. Does not follow a symlink at `path`. */
  stat(path: string, options?: StatOptions): Promise<Stat>;
  /** The entries of a directory, without `.` and `..`. Rejects ENOENT, ENOTDIR on a file. */
  list(path: string, options?: OpOptions): Promise<DirEntry[]>;
  /**
   * Opens a file. Rejects ENOENT (missing, no `create`), EEXIST (`create` + `exclusive`),
   * EISDIR (a directory), ENOTDIR (a parent is a file), EROFS / EACCES (not writable here).
   */
  open(path: string, flags: OpenFlags, options?: OpenOptions): Promise<FileHandle>;
  /** Rejects EEXIST, ENOENT (missing parent), ENOTDIR. */
  mkdir?(path: string, mode?: number): Promise<void>;
  /** Removes a file. Rejects ENOENT, EISDIR on a directory. */
  unlink?(path: string): Promise<void>;
  /** Removes an empty directory. Rejects ENOENT, ENOTDIR, ENOTEMPTY, EBUSY on the root. */
  rmdir?(path: string): Promise<void>;
  /**
   * Moves `from` to `to`, replacing a file or an empty directory there. Rejects ENOENT, EISDIR
   * (file over directory), ENOTDIR (directory over file), ENOTEMPTY, EINVAL (into itself), EXDEV.
   */
  rename?(from: string, to: string): Promise<void>;
  /** Sets a file's size, zero-filling when it grows. Rejects ENOENT, EISDIR, EINVAL, EFBIG. */
  truncate?(path: string, size: number): Promise<void>;
  /** Sets permission bits. Rejects ENOENT. */
  chmod?(path: string, mode: number): Promise<void>;
  /** Sets access and modification times (ms since the epoch). Rejects ENOENT. */
  utimes?(path: string, atimeMs: number, mtimeMs: number): Promise<void>;
  /** Sets the owner and group; -1 (0xffffffff) leaves one unchanged. Rejects ENOENT, EPERM. */
  chown?(path: string, uid: number, gid: number): Promise<void>;
  /** Makes `path` a symbolic link holding `target` (stored as given, never followed). Rejects EEXIST. */
  symlink?(target: string, path: string): Promise<void>;
  /** The target a symbolic link holds. Rejects ENOENT, EINVAL when not a link. */
  readlink?(path: string): Promise<string>;
  /**
   * Makes a special file: `mode` holds the type bits (S_IFIFO 0o010000, S_IFSOCK 0o140000,
   * S_IFCHR 0o020000, S_IFBLK 0o060000, S_IFREG 0o100000) and the permission bits; `dev` is the
   * device number of a device node. Rejects EEXIST, ENOENT, EPERM where the type is not allowed.
   */
  mknod?(path: string, mode: number, dev: number): Promise<void>;
  /** Makes `newPath` another name of the file `existingPath`. Rejects ENOENT, EEXIST, EPERM on directories. */
  link?(existingPath: string, newPath: string): Promise<void>;
  /**
   * Copies the file `from` to `to` inside the store (replacing a file there), without its bytes
   * passing through the caller: a server-side copy, a reflink. Rejects ENOENT, EISDIR on a
   * directory, EEXIST when `to` is a directory.
   */
  copy?(from: string, to: string): Promise<void>;
  /**
   * The value of one extended attribute (`user.comment`, `security.capability` …) of `path`
   * itself (not following a symlink). Rejects ENODATA when it has none, ENOTSUP where the store
   * has no such attributes.
   */
  getxattr?(path: string, name: string): Promise<Uint8Array>;
  /**
   * Sets an extended attribute. `flags`: 1 (XATTR_CREATE) rejects EEXIST when it exists, 2
   * (XATTR_REPLACE) ENODATA when it does not. Rejects E2BIG / ENOSPC over the store's limits.
   */
  setxattr?(path: string, name: string, value: Uint8Array, flags?: number): Promise<void>;
  /** The names of the extended attributes of `path` itself. */
  listxattr?(path: string): Promise<string[]>;
  /** Removes an extended attribute. Rejects ENODATA when there is none. */
  removexattr?(path: string, name: string): Promise<void>;
  /** Space and file counts for `df`. */
  statfs?(): Promise<StatFs>;
  /**
   * Calls `listener` with each path that changes in the store, whoever changed it, as soon as
   * the backend learns of it (etcd: a prefix watch), so callers can drop what they cached for
   * it. `null` means changes may have been missed (the watch reconnected): drop everything.
   * Returns the function that stops listening.
   */
  watch?(listener: (path: string | null) => void): () => void;
  /** Releases connections and timers. Idempotent; handles still open are closed first. */
  close(): Promise<void>;
}

/** File system usage, as `statfs(2)` reports it. */
export interface StatFs {
  /** Block size in bytes. */
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  /** Longest name. */
  namemax: number;
}

/**
 * Extended attributes of a host file itself (l*xattr: a symlink's own), synchronous: 'get' gives
 * the value, 'list' the names, each NUL-terminated, 'set' and 'remove' 0; a failure is -errno.
 * `@shylock/fuse` exports one (`hostXattr`) for `@shylock/local`.
 */
export type HostXattr = (
  op: 'get' | 'set' | 'list' | 'remove',
  path: string | Buffer,
  name?: string,
  value?: Uint8Array,
  flags?: number,
) => Buffer | number;

/** mknod(2) of a host path, synchronous: 0, or -errno. `@shylock/fuse` exports one (`hostMknod`). */
export type HostMknod = (path: string | Buffer, mode: number, dev: number) => number;

/** A layer wraps a backend in cross-cutting behaviour: read-only, QoS, retry, metrics. */
export type Layer = (inner: Backend) => Backend;

/** The rejection type of every backend method, for documentation. */
export type BackendError = ShylockError;
