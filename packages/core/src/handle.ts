import { ByteBuffer, checkOffset } from './bytes.js';
import { ShylockError } from './errors.js';
import type { FileHandle, OpenFlags, Stat } from './types.js';

/** Options of {@link createBufferedHandle}. */
export interface BufferedHandleOptions {
  /** The path, for error messages. */
  path: string;
  /** The backend's name, for error messages. */
  backend: string;
  flags: OpenFlags;
  /**
   * The file's contents when opened (ignored when `flags.truncate`). Read in place and copied only
   * when the handle first changes the file, so pass memory nobody changes afterwards (a value
   * just fetched from the server), not a buffer the caller reuses.
   */
  initial?: Uint8Array;
  /** True when the file must be stored even if nothing is written (it was just created). */
  dirty?: boolean;
  /** Writes past this many bytes reject EFBIG. */
  maxSize?: number;
  /** Said after the limit in the EFBIG message, e.g. `"the server's --max-request-bytes"`. */
  limitHint?: string;
  /** Metadata to report from `stat()`; size and mtime follow the buffer. */
  stat?: Omit<Stat, 'size'>;
  /**
   * Stores the whole contents. Called by `flush` and `close` when something changed; a rejection
   * keeps the buffer dirty and surfaces from that flush/close.
   */
  commit(data: Uint8Array): Promise<void>;
}

const human = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${n} bytes`);

/**
 * A {@link FileHandle} that holds the whole file in memory and stores it with one `commit` at
 * flush/close — the shape of every key/value and object backend (etcd, Redis, S3 …): writes are
 * buffered per handle and put atomically.
 */
export function createBufferedHandle(options: BufferedHandleOptions): FileHandle {
  const { flags, path, backend } = options;
  const tooBig = (op: string, size: number) =>
    new ShylockError(
      'EFBIG',
      `${op} ${path}: ${human(size)} is over the ${backend} limit of ${human(options.maxSize!)} per file` +
        (options.limitHint ? ` (${options.limitHint})` : ''),
      { op, path, backend },
    );
  const buffer = flags.truncate || !options.initial ? new ByteBuffer() : ByteBuffer.borrow(options.initial);
  let dirty = options.dirty === true || (flags.truncate && (options.initial?.length ?? 0) > 0);
  let cursor = 0;
  let closed = false;
  let mtimeMs = options.stat?.mtimeMs ?? Date.now();

  const badf = (op: string, why: string) => new ShylockError('EBADF', `${op} ${path}: ${why}`, { op, path, backend });
  const checkOpen = (op: string) => {
    if (closed) throw badf(op, 'the handle is closed');
  };

  const flush = async () => {
    if (!dirty) return;
    const data = buffer.toBytes();
    await options.commit(data);
    dirty = false;
  };

  // A handle that only reads holds a value nobody changes (borrowed, copied only on a change):
  // an adapter may copy reads out of it itself, and its flush has nothing to do.
  const readOnly = flags.read && !flags.write && !flags.truncate && !dirty;
  return {
    ...(readOnly ? { native: { bytes: buffer.view(), read: true, write: false, noFlush: true } } : {}),
    async read(target, position) {
      checkOpen('read');
      if (!flags.read) throw badf('read', 'the file was not opened for reading');
      const at = position ?? cursor;
      checkOffset(at, 'the position', 'read', path);
      const n = buffer.read(target, at);
      if (position === null) cursor = at + n;
      return n;
    },
    async write(data, position) {
      checkOpen('write');
      if (!flags.write) throw badf('write', 'the file was not opened for writing');
      const at = flags.append ? buffer.size : (position ?? cursor);
      checkOffset(at, 'the position', 'write', path);
      if (options.maxSize !== undefined && at + data.length > options.maxSize) throw tooBig('write', at + data.length);
      buffer.write(data, at);
      if (position === null || flags.append) cursor = at + data.length;
      dirty = true;
      mtimeMs = Date.now();
      return data.length;
    },
    async truncate(size) {
      checkOpen('truncate');
      if (!flags.write) throw badf('truncate', 'the file was not opened for writing');
      checkOffset(size, 'the size', 'truncate', path);
      if (options.maxSize !== undefined && size > options.maxSize) throw tooBig('truncate', size);
      buffer.truncate(size);
      dirty = true;
      mtimeMs = Date.now();
    },
    async stat() {
      checkOpen('stat');
      return { type: 'file', mode: 0o644, ...options.stat, size: buffer.size, mtimeMs };
    },
    async flush() {
      checkOpen('flush');
      await flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      await flush();
    },
  };
}

/** Options of {@link openValueFile}. */
export interface ValueFileOptions extends Omit<BufferedHandleOptions, 'initial' | 'dirty'> {
  /** The stored value, or `null` when there is none. */
  value: Uint8Array | null;
  /** True when the path is a directory; asked only when there is no value. */
  isDirectory(): Promise<boolean>;
  /** Rejects ENOENT / ENOTDIR unless the parent is a directory; asked only to create. */
  checkParent(): Promise<void>;
  /** Ends the ENOENT message: `"no such key in etcd"`. */
  missing?: string;
}

/**
 * Opens a file of a key/value or object store — one value per path — with the checks `open`
 * owes its callers: EISDIR on a directory, ENOENT without `create`, the parent checked before a
 * create, EEXIST for `create` + `exclusive`. The handle buffers writes and stores them with one
 * `commit` at flush/close ({@link createBufferedHandle}); a file it creates is stored even if
 * nothing is written.
 */
export async function openValueFile(options: ValueFileOptions): Promise<FileHandle> {
  const { value, flags, path, isDirectory, checkParent, missing, ...rest } = options;
  if (value === null) {
    if (await isDirectory()) throw new ShylockError('EISDIR', `open ${path}: is a directory`);
    if (!flags.create) throw new ShylockError('ENOENT', `open ${path}: ${missing ?? 'no such file'}`);
    await checkParent();
  } else if (flags.create && flags.exclusive) {
    throw new ShylockError('EEXIST', `open ${path}: it exists`);
  }
  return createBufferedHandle({
    ...rest,
    path,
    flags,
    ...(value === null ? {} : { initial: value }),
    dirty: value === null && flags.write,
  });
}
