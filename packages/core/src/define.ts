import { abortError, ShylockError, toShylockError } from './errors.js';
import { parseOpenFlags } from './flags.js';
import { hasRawBytes, normalizePath } from './path.js';
import { BACKEND_METHODS, PATH_METHODS } from './methods.js';
import type { Backend, Capabilities, FileHandle, OpenFlags, OpOptions } from './types.js';

/** Every capability false: spread it and switch on what a backend does. */
export const NO_CAPABILITIES: Readonly<Capabilities> = Object.freeze({
  read: false,
  write: false,
  list: false,
  directories: false,
  unlink: false,
  rename: false,
  truncate: false,
  randomWrite: false,
  append: false,
  streams: false,
  chmod: false,
  utimes: false,
  byteNames: false,
  xattrs: false,
  symlinks: false,
  hardLinks: false,
  chown: false,
  specialFiles: false,
  copy: false,
});

/** What a store of files and directories does: read, write anywhere, list, make and remove. */
export const FILE_TREE_CAPABILITIES: Readonly<Partial<Capabilities>> = Object.freeze({
  read: true,
  write: true,
  list: true,
  directories: true,
  unlink: true,
  rename: true,
  truncate: true,
  randomWrite: true,
  append: true,
});

/** A file tree with everything a POSIX file system has (local, memory): modes, times, owners, links, nodes, byte names. */
export const POSIX_CAPABILITIES: Readonly<Partial<Capabilities>> = Object.freeze({
  ...FILE_TREE_CAPABILITIES,
  chmod: true,
  utimes: true,
  byteNames: true,
  symlinks: true,
  hardLinks: true,
  chown: true,
  specialFiles: true,
});

/** The capabilities that change data or metadata: what a read-only view switches off. */
export const MUTATING_CAPABILITIES = [
  'write',
  'directories',
  'unlink',
  'rename',
  'truncate',
  'randomWrite',
  'append',
  'chmod',
  'utimes',
  'symlinks',
  'hardLinks',
  'chown',
  'specialFiles',
  'xattrs',
  'copy',
] as const satisfies readonly (keyof Capabilities)[];

function checkSignal(op: string, path: string, backend: string, options?: OpOptions): void {
  if (options?.signal?.aborted) throw abortError(options.signal, { op, path, backend });
}

/**
 * Gives a backend implementation the full contract: every path is normalised first (EINVAL for
 * `..` escapes, NUL bytes, empty paths), anything thrown becomes a {@link ShylockError} carrying
 * the op, path and backend name (unknown errors become EIO with the cause kept), handles reject
 * EBADF after close and close only once, and `close()` of the backend is idempotent.
 *
 * The implementation may then trust its arguments. Only the optional methods it has are exposed.
 * `capabilities` lists what the backend can do; any capability left out is false.
 */
export function defineBackend(impl: Omit<Backend, 'capabilities'> & { readonly capabilities: Partial<Capabilities> }): Backend {
  const name = impl.name;
  const fail = (error: unknown, op: string, path?: string): never => {
    throw toShylockError(error, { op, path, backend: name });
  };
  let closing: Promise<void> | undefined;
  const byteNames = impl.capabilities.byteNames === true;
  /** normalizePath, and EILSEQ for a name that is not UTF-8 where names are text. */
  const normalize = byteNames
    ? normalizePath
    : (path: string, op: string): string => {
        const p = normalizePath(path, op);
        if (hasRawBytes(p)) {
          throw new ShylockError('EILSEQ', `${op} ${p}: ${name} takes only UTF-8 names`, { op, path: p, backend: name });
        }
        return p;
      };

  /** A path method: normalised path, an abort checked first, errors as ShylockErrors. */
  const call = async <T>(op: string, path: string, options: OpOptions | undefined, run: (p: string) => Promise<T>): Promise<T> => {
    const p = normalize(path, op);
    checkSignal(op, p, name, options);
    try {
      return await run(p);
    } catch (e) {
      return fail(e, op, p);
    }
  };
  const backend: Backend = {
    name,
    capabilities: Object.freeze({ ...NO_CAPABILITIES, ...impl.capabilities }),
    ...(impl.nativeRoot === undefined ? {} : { nativeRoot: impl.nativeRoot }),
    stat: (path, options) => call('stat', path, options, (p) => impl.stat(p, options)),
    list: (path, options) => call('list', path, options, (p) => impl.list(p, options)),
    async open(path, flags, options) {
      const p = normalize(path, 'open');
      const f: OpenFlags = parseOpenFlags(flags);
      checkSignal('open', p, name, options);
      let handle: FileHandle;
      try {
        handle = await impl.open(p, f, options);
      } catch (e) {
        return fail(e, 'open', p);
      }
      return guardHandle(handle, p, name);
    },
    close() {
      closing ??= impl.close().catch((e) => fail(e, 'close'));
      return closing;
    },
  };
  // Every optional method, from the one table: its path arguments normalised, its errors named.
  for (const method of PATH_METHODS) {
    const fn = impl[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof fn !== 'function') continue;
    const { paths, subject = paths[0]! } = BACKEND_METHODS[method] as { paths: readonly number[]; subject?: number };
    const checkTarget = method === 'symlink';
    (backend as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      for (const i of paths) args[i] = normalize(args[i] as string, method);
      const p = args[subject] as string;
      if (checkTarget) {
        const target = args[0];
        if (typeof target !== 'string' || target === '' || target.includes('\0')) {
          throw new ShylockError('EINVAL', `symlink ${p}: the target must be a non-empty string without NUL`, {
            op: 'symlink',
            path: p,
            backend: name,
          });
        }
      }
      try {
        return await fn.apply(impl, args);
      } catch (e) {
        return fail(e, method, p);
      }
    };
  }
  if (typeof impl.watch === 'function') backend.watch = impl.watch.bind(impl);
  if (typeof impl.statfs === 'function') {
    const statfs = impl.statfs;
    backend.statfs = async () => {
      try {
        return await statfs.call(impl);
      } catch (e) {
        return fail(e, 'statfs');
      }
    };
  }
  return backend;
}

/**
 * Marks a handle that already keeps the contract (ShylockErrors only, EBADF after close, close
 * once), so {@link guardHandle} does not wrap it again. A layer whose handle only adds to a
 * guarded inner handle may carry the mark over. `Symbol.for`, so every copy of core agrees.
 */
export const GUARDED = Symbol.for('shylock.guardedHandle');

/** Wraps a handle: errors become ShylockErrors, EBADF after close, close runs once. */
export function guardHandle(handle: FileHandle, path: string, backend: string): FileHandle {
  if ((handle as { [GUARDED]?: boolean })[GUARDED]) return handle;
  let closing: Promise<void> | undefined;
  const ctx = (op: string) => ({ op, path, backend });
  const checkOpen = (op: string) => {
    if (closing) throw new ShylockError('EBADF', `${op} ${path}: the handle is closed`, ctx(op));
  };
  const wrapped: FileHandle = {
    async read(buffer, position, options) {
      checkOpen('read');
      if (options?.signal?.aborted) throw abortError(options.signal, ctx('read'));
      try {
        return await handle.read(buffer, position, options);
      } catch (e) {
        throw toShylockError(e, ctx('read'));
      }
    },
    close() {
      closing ??= handle.close().catch((e: unknown) => {
        throw toShylockError(e, ctx('close'));
      });
      return closing;
    },
  };
  const write = handle.write;
  if (write) {
    wrapped.write = async (data, position, options) => {
      checkOpen('write');
      if (options?.signal?.aborted) throw abortError(options.signal, ctx('write'));
      try {
        return await write.call(handle, data, position, options);
      } catch (e) {
        throw toShylockError(e, ctx('write'));
      }
    };
  }
  for (const method of ['truncate', 'stat', 'flush', 'sync'] as const) {
    const fn = handle[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!fn) continue;
    (wrapped as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      checkOpen(method);
      try {
        return await fn.apply(handle, args);
      } catch (e) {
        throw toShylockError(e, ctx(method));
      }
    };
  }
  // The descriptor's I/O is the handle's own (see FileHandle.native): nothing to guard.
  if (handle.native) (wrapped as { native?: FileHandle['native'] }).native = handle.native;
  if (handle.spill) (wrapped as { spill?: FileHandle['spill'] }).spill = handle.spill;
  (wrapped as { [GUARDED]?: boolean })[GUARDED] = true;
  return wrapped;
}
