import { resolve as resolvePath } from 'node:path';
import { readOnly as readOnlyLayer, ShylockError, type Backend, type HostMknod, type HostXattr } from '@shylock/core';
import { qosLayer } from '@shylock/qos';
import { FuseSession, loadNative } from './binding.js';
import { createHandlers } from './handlers.js';
import { ContentHint } from './content-hint.js';
import { ListingCache } from './listing-cache.js';
import { prepareMountpoint, setReadahead, unmountPath } from './mountpoints.js';
import { stat } from 'node:fs/promises';
import { NativeIo } from './native-io.js';
import { OpenFiles } from './open-files.js';
import { kernelSettings, type Mount, type MountOptions } from './options.js';
import { Requests } from './requests.js';

/**
 * Mounts `backend` at `mountpoint` through FUSE and resolves once the kernel serves it.
 *
 * ```ts
 * import { mount } from '@shylock/fuse';
 * const m = await mount(memoryBackend(), '/mnt/x', { qos: createPolicy(rules) });
 * try { ... } finally { await m.unmount(); }
 * ```
 *
 * Most FUSE operations are answered on this process's main thread: never call synchronous `fs`
 * functions on your own mount from this process (it deadlocks); use `fs/promises` or a child
 * process. Mount only from a process's main thread.
 *
 * @throws ShylockError ENOENT / ENOTDIR for a bad mountpoint, EBUSY when something is mounted
 *   there, EIO when FUSE is unavailable (no /dev/fuse, no libfuse 3) or the kernel refuses.
 */
export async function mount(backend: Backend, mountpoint: string, options: MountOptions = {}): Promise<Mount> {
  const target = resolvePath(mountpoint);
  let fs = backend;
  if (options.qos) fs = qosLayer(options.qos)(fs);
  if (options.readOnly) fs = readOnlyLayer(fs);
  loadNative();
  const nativeIo = options.nativeIo !== false;
  await prepareMountpoint(target, false);

  // The binding answers lookups from the same listings' stats; it drops them with these.
  const listings = new ListingCache(options.listingCacheMs ?? 1000, () => forgetListed());
  let forgetListed = () => {};
  const requests = new Requests({
    backend: backend.name,
    timeoutMs: options.timeoutMs ?? 30_000,
    pollMs: options.pollMs ?? 2,
    onError: options.onError,
    onMutation: () => {
      listings.forget();
      if (prefetching) session.fastForget();
    },
  });
  const open = new OpenFiles();
  let prefetching = false;
  const hint = new ContentHint(() => session.fastPrefetchCounts());
  let ended = () => {};
  const settings = kernelSettings(backend, options);
  const handlers = {} as ReturnType<typeof createHandlers>;
  const session = new FuseSession(target, handlers, { ...settings, onEnded: () => ended() });
  const native = new NativeIo(session, nativeIo);
  Object.assign(
    handlers,
    createHandlers({
      fs,
      session,
      requests,
      open,
      listings,
      native,
      directIo: options.directIo ?? false,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      wantContent: () => prefetching && hint.want(),
    }),
  );

  /** One sweep a second answers ETIMEDOUT for operations past their deadline. */
  const sweep = setInterval(() => requests.sweep(), 1000);
  sweep.unref();
  /** Changes made by others (a backend with `watch`): their cached listing stats go at once. */
  const stopWatching = fs.watch?.((changed) => listings.changed(changed));
  try {
    session.mount();
  } catch (err) {
    clearInterval(sweep);
    stopWatching?.();
    throw new ShylockError('EIO', `could not mount ${target}: ${(err as Error).message}`, { op: 'mount', path: target, cause: err });
  }
  session.fastListed(listings.ttlMs);
  forgetListed = () => session.fastForgetListed();
  /**
   * Opens served from the content a stat brought (Stat.content), no JavaScript: only while no QoS
   * rule applies, since such a handle pays for nothing. A file opened so before a rule came keeps
   * reading its value (at most 1 MiB) unthrottled until it is closed. A qosLayer drops a stat's
   * content itself while it has rules.
   */
  const prefetch = () => {
    const on = nativeIo && (options.qos?.empty ?? true);
    if (on !== prefetching) session.fastPrefetch(on);
    prefetching = on;
  };
  /**
   * Rules changed: native I/O prepaid under the old ones stops at once (the next request pays
   * anew), and pages the kernel read ahead under them are dropped, so open files are read under
   * the new rules from the next byte.
   */
  const stopRevoking = options.qos?.onChange?.(() => {
    if (nativeIo) session.fastRevoke();
    prefetch();
    session.invalidate(open.paths());
  });
  prefetch();
  // A directory passed through: getattr is lstat on the FUSE threads, fgetattr of a native handle
  // fstat of its descriptor. Off if the directory can't be opened (the backend then answers).
  if (nativeIo && fs.nativeRoot !== undefined) session.fastRoot(fs.nativeRoot);
  // onError sees every failure: native requests that fail are answered by the handlers instead.
  if (nativeIo && options.onError) session.fastReportErrors(true);
  // The kernel sets the mount's readahead from libfuse's init answer, capped at 128 KiB: raise it
  // to max_readahead once init is done (a first request waits for it). Root only.
  if (settings.maxReadahead > 128 * 1024) {
    await stat(target).catch(() => undefined);
    await setReadahead(target, Math.floor(settings.maxReadahead / 1024));
  }

  let unmounting: Promise<void> | undefined;
  let closedNow: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedNow = resolve));
  const unmount = () => {
    unmounting ??= (async () => {
      try {
        await session.unmount();
      } catch {
        await unmountPath(target);
      }
      clearInterval(sweep);
      stopWatching?.();
      stopRevoking?.();
      const files = open.drain();
      for (const [fd, file] of files) native.unregister(fd, file);
      await Promise.allSettled(files.map(([, f]) => f.handle.close()));
      await fs.close();
    })().finally(() => closedNow());
    return unmounting;
  };
  // The kernel ended the mount (an unmount from outside): close the backend the same way.
  ended = () => {
    if (!unmounting) void unmount().catch(() => undefined);
  };
  if (session.ended()) ended();
  return { mountpoint: target, backend: fs, unmount, closed, [Symbol.asyncDispose]: unmount };
}

/**
 * Extended attributes of host files (l*xattr on a path, a symlink's own), synchronous, from
 * shylock's FUSE binding: give it to `localBackend({ root, xattrs: hostXattr })` so a local
 * directory has extended attributes (Node's `fs` has no calls for them). 'get' returns the
 * value, 'list' the names NUL-terminated, 'set' and 'remove' 0; a failure returns -errno.
 */
/**
 * mknod(2) of a host path, synchronous, from shylock's FUSE binding (Node's `fs` has none): any
 * node — FIFO, Unix socket, device, file — with exactly the permission bits given. Give it to
 * `localBackend({ root, mknod: hostMknod })`. Returns 0, or -errno.
 */
export const hostMknod: HostMknod = (path, mode, dev) => loadNative().hostMknod(path, mode, dev);

export const hostXattr: HostXattr = (op, path, name, value, flags) => {
  const code = { get: 0, set: 1, list: 2, remove: 3 }[op];
  if (code === undefined) throw new TypeError('hostXattr: op is get, set, list or remove');
  return loadNative().hostXattr(code, path, name ?? '', value ?? Buffer.alloc(0), flags ?? 0);
};
