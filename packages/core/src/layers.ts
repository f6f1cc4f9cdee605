import { ShylockError } from './errors.js';
import { isMutating } from './flags.js';
import { defineBackend, MUTATING_CAPABILITIES } from './define.js';
import type { Backend, FileHandle, Layer } from './types.js';

/**
 * A layer that refuses every change with EROFS: `open` for writing, create or truncate, and
 * mkdir / unlink / rmdir / rename / truncate / chmod / utimes / setxattr … Reads (and getxattr,
 * listxattr) pass through untouched.
 */
export const readOnly: Layer = (inner: Backend): Backend => {
  const erofs = (op: string, path: string) =>
    Promise.reject(
      new ShylockError('EROFS', `${op} ${path}: ${inner.name} is mounted read-only`, {
        op,
        path,
        backend: inner.name,
        retryable: false,
      }),
    );
  return defineBackend({
    name: inner.name,
    // stat is the inner one, unchanged.
    ...(inner.nativeRoot === undefined ? {} : { nativeRoot: inner.nativeRoot }),
    capabilities: Object.freeze({
      ...inner.capabilities,
      ...Object.fromEntries(MUTATING_CAPABILITIES.map((c) => [c, false])),
    }),
    stat: (path, options) => inner.stat(path, options),
    list: (path, options) => inner.list(path, options),
    async open(path, flags, options): Promise<FileHandle> {
      if (isMutating(flags)) return erofs('open', path);
      const handle = await inner.open(path, flags, options);
      const { read, close, stat, native } = handle;
      return {
        read: read.bind(handle),
        close: close.bind(handle),
        ...(stat ? { stat: stat.bind(handle) } : {}),
        ...(native ? { native: { ...native, write: false } } : {}),
      };
    },
    mkdir: (path) => erofs('mkdir', path),
    unlink: (path) => erofs('unlink', path),
    rmdir: (path) => erofs('rmdir', path),
    rename: (from) => erofs('rename', from),
    truncate: (path) => erofs('truncate', path),
    chmod: (path) => erofs('chmod', path),
    utimes: (path) => erofs('utimes', path),
    chown: (path) => erofs('chown', path),
    mknod: (path) => erofs('mknod', path),
    symlink: (_target, path) => erofs('symlink', path),
    link: (_from, to) => erofs('link', to),
    setxattr: (path) => erofs('setxattr', path),
    removexattr: (path) => erofs('removexattr', path),
    ...(inner.readlink ? { readlink: (path: string) => inner.readlink!(path) } : {}),
    ...(inner.getxattr ? { getxattr: (path: string, name: string) => inner.getxattr!(path, name) } : {}),
    ...(inner.listxattr ? { listxattr: (path: string) => inner.listxattr!(path) } : {}),
    ...(inner.statfs ? { statfs: () => inner.statfs!() } : {}),
    ...(inner.watch ? { watch: (listener: (path: string | null) => void) => inner.watch!(listener) } : {}),
    close: () => inner.close(),
  });
};
