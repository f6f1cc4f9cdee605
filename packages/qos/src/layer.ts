import {
  defineBackend,
  GUARDED,
  type Backend,
  type FileHandle,
  type Layer,
  type NativeFile,
  type OpOptions,
  type QosPolicy,
  type Stat,
} from '@shylock/core';

/**
 * A layer that throttles any backend by a policy. Each `read` counts one read operation before
 * it runs and its bytes after (the bytes actually read, so a short read at the end of a file is
 * not overcharged; the data is handed over only once it is paid for). Each `write` counts one
 * write operation and its bytes before it runs. `list` counts a read operation; mkdir, unlink,
 * rmdir, rename, truncate, chmod, utimes, setxattr and removexattr count a write operation. `stat`,
 * getxattr and listxattr are free: the kernel asks for them far more often than programs do.
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
    const wrapHandle = (handle: FileHandle, path: string): FileHandle => new QosHandle(handle, path, policy);
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
    for (const method of ['mkdir', 'unlink', 'rmdir', 'truncate', 'chmod', 'utimes', 'chown', 'mknod', 'setxattr', 'removexattr'] as const) {
      const fn = inner[method] as ((path: string, ...rest: unknown[]) => Promise<void>) | undefined;
      if (!fn) continue;
      (layered as unknown as Record<string, unknown>)[method] = async (path: string, ...rest: unknown[]) => {
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
    // Reading extended attributes is free, as stat is (the kernel asks before every write).
    if (inner.getxattr) layered.getxattr = inner.getxattr.bind(inner);
    if (inner.listxattr) layered.listxattr = inner.listxattr.bind(inner);
    if (inner.statfs) layered.statfs = inner.statfs.bind(inner);
    if (inner.watch) layered.watch = inner.watch.bind(inner);
    return defineBackend(layered);
  };
}

type Binding = ReturnType<QosPolicy['bind']>;
type Kind = 'read' | 'write';

/**
 * A handle of {@link qosLayer}. Built on every open, so it is a class: its methods live on the
 * prototype, and the ones the inner handle lacks are hidden by own `undefined` properties.
 * Rules are bound at the first read or write: a file created and closed untouched (`touch`) pays
 * for no rule lookup.
 */
class QosHandle implements FileHandle {
  readonly native?: NativeFile;
  #reads: Binding | undefined;
  #writes: Binding | undefined;

  constructor(
    private readonly inner: FileHandle,
    private readonly path: string,
    private readonly policy: QosPolicy,
  ) {
    if (!inner.write) this.write = undefined;
    if (!inner.truncate) this.truncate = undefined;
    if (!inner.stat) this.stat = undefined;
    if (!inner.flush) this.flush = undefined;
    if (!inner.sync) this.sync = undefined;
    // I/O done on the descriptor itself is paid in advance, through the same rules.
    if (inner.native) this.native = qosNative(inner.native, this);
    // Only waits are added, and their errors are ShylockErrors: a guarded handle stays guarded.
    if ((inner as { [GUARDED]?: boolean })[GUARDED]) (this as { [GUARDED]?: boolean })[GUARDED] = true;
  }

  binding(kind: Kind): Binding {
    return kind === 'read'
      ? (this.#reads ??= this.policy.bind(this.path, 'read'))
      : (this.#writes ??= this.policy.bind(this.path, 'write'));
  }

  async read(buffer: Uint8Array, position: number | null, options?: OpOptions): Promise<number> {
    const reads = this.binding('read');
    if (!reads.tryAcquire(0, 1)) await reads.acquire(0, options);
    const n = await this.inner.read(buffer, position, options);
    if (n > 0 && !reads.tryAcquire(n, 0)) {
      await reads.acquire(n, { ops: 0, ...(options?.signal ? { signal: options.signal } : {}) });
    }
    return n;
  }

  async write?(data: Uint8Array, position: number | null, options?: OpOptions): Promise<number> {
    const writes = this.binding('write');
    if (!writes.tryAcquire(data.length, 1)) await writes.acquire(data.length, options);
    return this.inner.write!(data, position, options);
  }

  truncate?(size: number): Promise<void> {
    return this.inner.truncate!(size);
  }

  stat?(): Promise<Stat> {
    return this.inner.stat!();
  }

  flush?(): Promise<void> {
    return this.inner.flush!();
  }

  sync?(): Promise<void> {
    return this.inner.sync!();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The inner descriptor, with `charge`/`refund` that pay through the handle's rules too. */
function qosNative(native: NativeFile, handle: QosHandle): NativeFile {
  return {
    fd: native.fd,
    bytes: native.bytes,
    read: native.read,
    write: native.write,
    noFlush: native.noFlush,
    charge(kind, bytes, ops) {
      const b = handle.binding(kind);
      // Prepaid credit never borrows: a chunk larger than the rule's burst is not paid at all.
      if (!b.tryAcquire(bytes, ops, false)) return false;
      if (native.charge && !native.charge(kind, bytes, ops)) {
        b.refund?.(bytes, ops);
        return false;
      }
      return true;
    },
    refund(kind, bytes, ops) {
      handle.binding(kind).refund?.(bytes, ops);
      native.refund?.(kind, bytes, ops);
    },
  };
}
