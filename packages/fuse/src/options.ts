import type { QosPolicy, ShylockError, Backend } from '@shylock/core';

/** Options of {@link mount}. */
export interface MountOptions {
  /** QoS rules applied to every operation through the mount. */
  qos?: QosPolicy;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /**
   * More libfuse and kernel options (`-o` list), e.g. `['allow_other']`. `max_write=N` and
   * `max_readahead=N` (default 1 MiB each) are applied in libfuse's init; `big_writes` is always on.
   */
  fuseOptions?: string[];
  /** Largest read the kernel sends, bytes (default 1 MiB). */
  maxRead?: number;
  /**
   * Seconds the kernel caches attributes and names (default 0, as libfuse's
   * passthrough: every stat sees the backend, so `ln` shows the new link count at once and
   * changes made beside the mount are seen). A second or more saves requests where only this
   * mount changes the backend.
   */
  attrTimeout?: number;
  /**
   * Bypass the page cache for every file (default false). Stream files always bypass it, per open
   * (their size is unknown, so the kernel must pass each read through).
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
   * the FUSE threads, with no round trip to JavaScript (default true). QoS still applies: such I/O is paid in advance through the rules, in chunks that
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
   * Resolves once the mount is gone and the backend closed: after `unmount()`, or as soon as the
   * kernel ends the mount from outside (`fusermount -u`, `umount`, an aborted connection; a lazy
   * one once its last open file is closed), which closes the backend the same way.
   */
  readonly closed: Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The largest request the kernel sends with the default options: 1 MiB reads (readahead) and
 * writes, FUSE's maximum (256 pages). A 1 MiB `dd` block is then one request, not eight.
 */
export const MAX_REQUEST = 1 << 20;

/** What the binding is given: libfuse's `-o` options and the settings of its init. */
export interface KernelSettings {
  options: string[];
  maxWrite: number;
  maxReadahead: number;
  maxRead: number;
  /** A directory passed through shows its files' own inode numbers (hard links share one). */
  useIno: boolean;
}

/** The libfuse options and init settings of a mount of `backend` with `options`. */
export function kernelSettings(backend: Backend, options: MountOptions): KernelSettings {
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
  return {
    options: [
      `fsname=${options.fsname ?? `shylock-${backend.name}`}`,
      'subtype=shylock',
      ...(options.allowOther ? ['allow_other'] : []),
      ...(options.defaultPermissions === false ? [] : ['default_permissions']),
      `attr_timeout=${attrTimeout}`,
      `entry_timeout=${attrTimeout}`,
      // Missing names are never cached: a key another client creates appears at once.
      'negative_timeout=0',
      ...(options.directIo ? ['direct_io'] : []),
      ...extra,
    ],
    maxWrite,
    maxReadahead,
    maxRead: options.maxRead ?? MAX_REQUEST,
    useIno: backend.nativeRoot !== undefined,
  };
}
