import { defineBackend, MUTATING_CAPABILITIES } from './define.js';
import { ShylockError } from './errors.js';
import { isMutating } from './flags.js';
import { BACKEND_METHODS, type BackendMethod } from './methods.js';
import type { Backend, Capabilities, FileHandle, Layer } from './types.js';

/** What a layer changes: any Backend method, and the capabilities. */
export type Overrides = Partial<Pick<Backend, BackendMethod>> & { capabilities?: Readonly<Capabilities> };

/** Options of {@link forward}. */
export interface ForwardOptions {
  /**
   * The layer leaves `stat`, `getxattr`, `listxattr` and `utimes` answers as the inner backend
   * gives them, though it overrides some of them (to charge or refuse a call, say): an adapter
   * may go on answering them from the inner backend's `nativeRoot` itself. Default: `nativeRoot`
   * is kept only when the layer overrides none of them.
   */
  keepNativeRoot?: boolean;
}

/** The methods an adapter answers itself from `nativeRoot`, bypassing the layers. */
const NATIVE_METHODS = ['stat', 'getxattr', 'listxattr', 'utimes'] as const;

/**
 * Builds a layer's backend: every method the inner backend has is forwarded, except those in
 * `overrides`. A layer states only what it changes:
 *
 * ```ts
 * const logged: Layer = (inner) => forward(inner, { unlink: (p) => (console.log('rm', p), inner.unlink!(p)) });
 * ```
 *
 * Overrides are kept as given, also of a method the inner backend lacks (a layer may answer it
 * alone). `nativeRoot` (the FUSE fast path for stat and xattr reads) is dropped when the layer
 * overrides any method it would bypass, unless `keepNativeRoot` says those answers stay right.
 */
export function forward(inner: Backend, overrides: Overrides, options: ForwardOptions = {}): Backend {
  const impl: Record<string, unknown> = {
    name: inner.name,
    capabilities: overrides.capabilities ?? inner.capabilities,
  };
  const bypassed = NATIVE_METHODS.some((m) => overrides[m] !== undefined);
  if (inner.nativeRoot !== undefined && (!bypassed || options.keepNativeRoot)) impl.nativeRoot = inner.nativeRoot;
  for (const method of Object.keys(BACKEND_METHODS) as BackendMethod[]) {
    const own = overrides[method];
    const theirs = inner[method] as ((...args: unknown[]) => unknown) | undefined;
    if (own !== undefined) impl[method] = own;
    else if (typeof theirs === 'function') impl[method] = theirs.bind(inner);
  }
  return defineBackend(impl as unknown as Parameters<typeof defineBackend>[0]);
}

/**
 * A layer that refuses every change with EROFS: `open` for writing, create or truncate, and
 * every method the method table marks as mutating (mkdir, unlink, rename, setxattr …). Reads
 * (and getxattr, listxattr) pass through untouched, so an adapter's native answers stay right.
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
  const overrides: Record<string, unknown> = {
    capabilities: Object.freeze({
      ...inner.capabilities,
      ...Object.fromEntries(MUTATING_CAPABILITIES.map((c) => [c, false])),
    }),
    async open(path: string, flags: Parameters<Backend['open']>[1], options: Parameters<Backend['open']>[2]): Promise<FileHandle> {
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
  };
  for (const method of Object.keys(BACKEND_METHODS) as BackendMethod[]) {
    const row = BACKEND_METHODS[method] as { mutates: boolean; paths: readonly number[]; subject?: number };
    if (!row.mutates) continue;
    const subject = row.subject ?? 0;
    overrides[method] = (...args: unknown[]) => erofs(method, String(args[subject]));
  }
  // Refusing changes alters no answer the native fast path gives.
  return forward(inner, overrides as Overrides, { keepNativeRoot: true });
};
