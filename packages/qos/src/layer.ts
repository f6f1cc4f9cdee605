import { defineBackend, GUARDED, type Backend, type FileHandle, type Layer, type QosPolicy } from '@shylock/core';

/**
 * A layer that throttles any backend by a policy. Each `read` counts one read operation before
 * it runs and its bytes after (the bytes actually read, so a short read at the end of a file is
 * not overcharged; the data is handed over only once it is paid for). Each `write` counts one
 * write operation and its bytes before it runs. `list` counts a read operation; mkdir, unlink,
 * rmdir, rename, truncate, chmod and utimes count a write operation. `stat` is free: the kernel
 * asks for it far more often than programs do.
 *
 * Rule changes apply at once, also to files already open.
 *
 * A handle with a `native` descriptor keeps it, with `charge`/`refund` that pay for I/O done on
 * the descriptor through the same rules (the FUSE adapter prepays such I/O in chunks and gives
 * back what it did not use at close).
 */
export function qosLayer(policy: QosPolicy): Layer {
  return (inner: Backend): Backend => {
    const op = (path: string, kind: 'read' | 'write') => policy.acquire(path, kind, 0);
    const wrapHandle = (handle: FileHandle, path: string): FileHandle => {
      // Bound at the first read or write: a file created and closed untouched (`touch`) pays
      // for no rule lookup.
      let readBinding: ReturnType<QosPolicy['bind']> | undefined;
      let writeBinding: ReturnType<QosPolicy['bind']> | undefined;
      const wrapped: FileHandle = {
        async read(buffer, position, options) {
          const reads = (readBinding ??= policy.bind(path, 'read'));
          if (!reads.tryAcquire(0, 1)) await reads.acquire(0, options);
          const n = await handle.read(buffer, position, options);
          if (n > 0 && !reads.tryAcquire(n, 0)) {
            await reads.acquire(n, { ops: 0, ...(options?.signal ? { signal: options.signal } : {}) });
          }
          return n;
        },
        close: () => handle.close(),
      };
      if (handle.write) {
        const write = handle.write.bind(handle);
        wrapped.write = async (data, position, options) => {
          const writes = (writeBinding ??= policy.bind(path, 'write'));
          if (!writes.tryAcquire(data.length, 1)) await writes.acquire(data.length, options);
          return write(data, position, options);
        };
      }
      // I/O done on the descriptor itself is paid in advance, through the same rules.
      const native = handle.native;
      if (native) {
        const binding = (kind: 'read' | 'write') =>
          kind === 'read' ? (readBinding ??= policy.bind(path, 'read')) : (writeBinding ??= policy.bind(path, 'write'));
        (wrapped as { native?: FileHandle['native'] }).native = {
          ...(native.fd === undefined ? {} : { fd: native.fd }),
          ...(native.bytes === undefined ? {} : { bytes: native.bytes }),
          read: native.read,
          write: native.write,
          ...(native.noFlush ? { noFlush: true } : {}),
          charge(kind, bytes, ops) {
            const b = binding(kind);
            if (!b.tryAcquire(bytes, ops)) return false;
            if (native.charge && !native.charge(kind, bytes, ops)) {
              b.refund?.(bytes, ops);
              return false;
            }
            return true;
          },
          refund(kind, bytes, ops) {
            binding(kind).refund?.(bytes, ops);
            native.refund?.(kind, bytes, ops);
          },
        };
      }
      if (handle.truncate) wrapped.truncate = handle.truncate.bind(handle);
      if (handle.stat) wrapped.stat = handle.stat.bind(handle);
      if (handle.flush) wrapped.flush = handle.flush.bind(handle);
      if (handle.sync) wrapped.sync = handle.sync.bind(handle);
      // Only waits are added, and their errors are ShylockErrors: a guarded handle stays guarded.
      if ((handle as { [GUARDED]?: boolean })[GUARDED]) (wrapped as { [GUARDED]?: boolean })[GUARDED] = true;
      return wrapped;
    };
    const layered: Backend = {
      name: inner.name,
      // stat is free and unchanged.
      ...(inner.nativeRoot === undefined ? {} : { nativeRoot: inner.nativeRoot }),
      capabilities: inner.capabilities,
      stat: (path, options) => inner.stat(path, options),
      async list(path, options) {
        await policy.acquire(path, 'read', 0, options);
        return inner.list(path, options);
      },
      async open(path, flags, options) {
        return wrapHandle(await inner.open(path, flags, options), path);
      },
      close: () => inner.close(),
    };
    for (const method of ['mkdir', 'unlink', 'rmdir', 'truncate', 'chmod', 'utimes', 'chown', 'mknod'] as const) {
      const fn = inner[method] as ((path: string, ...rest: number[]) => Promise<void>) | undefined;
      if (!fn) continue;
      (layered as unknown as Record<string, unknown>)[method] = async (path: string, ...rest: number[]) => {
        await op(path, 'write');
        return fn.call(inner, path, ...rest);
      };
    }
    for (const method of ['rename', 'link'] as const) {
      const fn = inner[method];
      if (!fn) continue;
      layered[method] = async (from: string, to: string) => {
        await op(method === 'link' ? to : from, 'write');
        return fn.call(inner, from, to);
      };
    }
    const { symlink, readlink } = inner;
    if (symlink) {
      layered.symlink = async (target, path) => {
        await op(path, 'write');
        return symlink.call(inner, target, path);
      };
    }
    if (readlink) layered.readlink = (path) => readlink.call(inner, path);
    if (inner.statfs) layered.statfs = inner.statfs.bind(inner);
    if (inner.watch) layered.watch = inner.watch.bind(inner);
    return defineBackend(layered);
  };
}
