import {
  BACKEND_METHODS,
  forward,
  GUARDED,
  type MethodRow,
  type Overrides,
  PATH_METHODS,
  type Backend,
  type FileHandle,
  type Layer,
  type NativeFile,
  type OpOptions,
  type QosPolicy,
  type Stat,
  type StatOptions,
} from '@shylock/core';

/**
 * A layer that throttles any backend by a policy. Each `read` counts one read operation before
 * it runs and its bytes after (the bytes actually read, so a short read at the end of a file is
 * not overcharged; the data is handed over only once it is paid for). Each `write` counts one
 * write operation and its bytes before it runs. `list` counts a read operation; every method the
 * core method table marks as mutating (mkdir, unlink, rename, chmod, setxattr, copy …) counts a
 * write operation on its path. `stat`, readlink, getxattr and listxattr are free: the kernel asks
 * for them far more often than programs do.
 *
 * Rule changes apply at once, also to files already open.
 *
 * A handle with a `native` descriptor keeps it, with `charge`/`refund` that pay for I/O done on
 * the descriptor through the same rules (the FUSE adapter prepays such I/O in chunks and gives
 * back what it did not use at close).
 */
export function qosLayer(policy: QosPolicy): Layer {
  return (inner: Backend): Backend => {
    const overrides: Record<string, unknown> = {
      async list(path: string, options?: OpOptions) {
        await policy.acquire(path, 'read', 0, options);
        return inner.list(path, options);
      },
      async open(path: string, flags: Parameters<Backend['open']>[1], options?: Parameters<Backend['open']>[2]) {
        return new QosHandle(await inner.open(path, flags, options), path, policy);
      },
    };
    // Every method the table marks as mutating costs one write operation on its subject path;
    // the rest (stat, readlink, getxattr, listxattr, statfs) are free and forwarded as they are.
    for (const method of PATH_METHODS) {
      const row: MethodRow = BACKEND_METHODS[method];
      const fn = inner[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
      if (!row.mutates || typeof fn !== 'function') continue;
      const subject = row.subject ?? row.paths[0]!;
      overrides[method] = async (...args: unknown[]) => {
        await policy.acquire(args[subject] as string, 'write', 0);
        return fn.apply(inner, args);
      };
    }
    // A stat's content (Stat.content) lets an adapter serve the open and reads that follow without
    // this layer: it goes while any rule exists, so every such read is paid for.
    overrides.stat = async (path: string, options?: StatOptions) => {
      const s = await inner.stat(path, options);
      if (s.content === undefined || policy.empty) return s;
      const { content: _paid, ...rest } = s;
      return rest;
    };
    // Only waits are added: stat (its answers but for the content above) and xattr reads answer as
    // the inner backend's, natively too.
    return forward(inner, overrides as Overrides, { keepNativeRoot: true });
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
