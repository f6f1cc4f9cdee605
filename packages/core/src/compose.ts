import { defineBackend, NO_CAPABILITIES } from './define.js';
import { isShylockError, ShylockError } from './errors.js';
import { normalizePath, splitPath } from './path.js';
import type { Backend, Capabilities, DirEntry, Stat } from './types.js';

/** Options of {@link compose}. */
export interface ComposeOptions {
  /** The composed backend's name (default `'compose'`). */
  name?: string;
}

interface Resolved {
  mount: string;
  backend: Backend;
  /** The path inside `backend`. */
  inner: string;
}

/**
 * Joins many backends into one tree: `compose({ '/config': etcd, '/data': s3 })` lists `config`
 * and `data` at its root and sends `/data/x` to `s3` as `/x`. A backend mounted at `/` fills
 * whatever the others do not cover. Mount paths may be nested (`/dc1/cache`); their parents
 * appear as read-only directories.
 *
 * Capabilities are those every mounted backend has. Renames between two backends reject EXDEV;
 * creating or removing a mount point itself rejects EPERM / EBUSY. `close()` closes every backend.
 *
 * @throws ShylockError `EINVAL` for no mounts, a bad mount path, or two keys naming the same path.
 */
export function compose(mounts: Record<string, Backend>, options: ComposeOptions = {}): Backend {
  const name = options.name ?? 'compose';
  const table = new Map<string, Backend>();
  const children = new Map<string, Set<string>>();
  for (const [key, backend] of Object.entries(mounts)) {
    const at = normalizePath(key, 'compose');
    if (table.has(at)) throw new ShylockError('EINVAL', `compose: "${key}" names the mount "${at}" twice`);
    if (!backend || typeof backend.stat !== 'function') {
      throw new ShylockError('EINVAL', `compose: the value at "${key}" is not a Backend`);
    }
    table.set(at, backend);
    const segments = splitPath(at);
    for (let i = 0; i < segments.length; i++) {
      const parent = '/' + segments.slice(0, i).join('/');
      let set = children.get(parent);
      if (!set) children.set(parent, (set = new Set()));
      set.add(segments[i]!);
    }
  }
  if (table.size === 0) throw new ShylockError('EINVAL', 'compose: give at least one mount');
  const createdMs = Date.now();
  const virtualStat = (): Stat => ({ type: 'directory', size: 0, mode: 0o755, mtimeMs: createdMs, nlink: 2 });

  /** The deepest mount containing `path`, in O(depth) map lookups. */
  const resolve = (path: string): Resolved | undefined => {
    const segments = splitPath(path);
    for (let i = segments.length; i >= 0; i--) {
      const mount = '/' + segments.slice(0, i).join('/');
      const backend = table.get(mount);
      if (backend) return { mount, backend, inner: '/' + segments.slice(i).join('/') };
    }
    return undefined;
  };
  /** True for a path that is a strict ancestor of some mount: a synthetic directory. */
  const isVirtual = (path: string) => children.has(path) && !table.has(path);

  const need = (op: string, path: string): Resolved => {
    const r = resolve(path);
    if (!r) throw new ShylockError('ENOENT', `${op} ${path}: nothing is mounted there`, { op, path, backend: name });
    return r;
  };
  /** Runs a call on a mounted backend; its errors name the composed path, not the inner one. */
  const via = async <T>(op: string, path: string, r: Resolved, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      if (!isShylockError(e) || e.path === path || r.mount === '/') throw e;
      const message = r.inner === '/' ? e.message : e.message.replace(` ${r.inner}`, ` ${path}`);
      throw new ShylockError(e.code, message, {
        op: e.op ?? op,
        path,
        backend: e.backend,
        cause: e.cause ?? e,
        retryable: e.retryable,
      });
    }
  };
  const notHere = (op: string, path: string): never => {
    throw new ShylockError('EPERM', `${op} ${path}: this directory only holds mounts`, { op, path, backend: name });
  };
  type Optional = 'mkdir' | 'unlink' | 'rmdir' | 'truncate' | 'chmod' | 'utimes' | 'chown' | 'readlink' | 'mknod';
  type Xattr = 'getxattr' | 'setxattr' | 'listxattr' | 'removexattr';
  /** The member's method, bound; ENOSYS where it has none (ENOTSUP for extended attributes). */
  const method = <K extends Optional | Xattr>(op: K, r: Resolved): NonNullable<Backend[K]> => {
    const fn = r.backend[op];
    if (typeof fn !== 'function') {
      const xattr = op.endsWith('xattr');
      throw new ShylockError(
        xattr ? 'ENOTSUP' : 'ENOSYS',
        `${op}: ${r.backend.name} at ${r.mount} ${xattr ? 'has no extended attributes' : 'does not support it'}`,
        { op, backend: r.backend.name },
      );
    }
    return fn.bind(r.backend) as NonNullable<Backend[K]>;
  };

  const all = [...table.values()];
  const capabilities = {} as Capabilities;
  for (const key of Object.keys(NO_CAPABILITIES) as (keyof Capabilities)[]) {
    capabilities[key] = all.every((b) => b.capabilities[key]);
  }

  return defineBackend({
    name,
    capabilities,
    async stat(path, o) {
      if (table.has(path)) return table.get(path)!.stat('/', o);
      if (isVirtual(path)) {
        const base = resolve(path);
        if (base) {
          try {
            return await base.backend.stat(base.inner, o);
          } catch {
            /* a synthetic directory stands where the base backend has nothing */
          }
        }
        return virtualStat();
      }
      const r = need('stat', path);
      return via('stat', path, r, () => r.backend.stat(r.inner, o));
    },
    async list(path, o) {
      const names = children.get(path);
      const r = resolve(path);
      if (!names) {
        const m = need('list', path);
        return via('list', path, m, () => m.backend.list(m.inner, o));
      }
      let entries: DirEntry[] = [];
      if (r) {
        try {
          entries = await r.backend.list(r.inner, o);
        } catch (e) {
          if (table.has(path)) throw e; // the mount's own root must list; a base backend may lack the dir
        }
      }
      const out = entries.filter((e) => !names.has(e.name));
      for (const child of names) out.push({ name: child, type: 'directory' });
      return out;
    },
    async open(path, flags, o) {
      if (isVirtual(path)) {
        throw new ShylockError('EISDIR', `open ${path}: is a directory`, { op: 'open', path, backend: name });
      }
      const r = need('open', path);
      return via('open', path, r, () => r.backend.open(r.inner, flags, o));
    },
    async mkdir(path, mode) {
      if (table.has(path) || isVirtual(path)) {
        throw new ShylockError('EEXIST', `mkdir ${path}: it exists`, { op: 'mkdir', path, backend: name });
      }
      const r = need('mkdir', path);
      return via('mkdir', path, r, () => method('mkdir', r)(r.inner, mode));
    },
    async unlink(path) {
      if (table.has(path) || isVirtual(path)) {
        throw new ShylockError('EISDIR', `unlink ${path}: is a directory`, { op: 'unlink', path, backend: name });
      }
      const r = need('unlink', path);
      return via('unlink', path, r, () => method('unlink', r)(r.inner));
    },
    async rmdir(path) {
      if (table.has(path) || isVirtual(path)) {
        throw new ShylockError('EBUSY', `rmdir ${path}: a backend is mounted there`, {
          op: 'rmdir',
          path,
          backend: name,
        });
      }
      const r = need('rmdir', path);
      return via('rmdir', path, r, () => method('rmdir', r)(r.inner));
    },
    async rename(from, to) {
      for (const p of [from, to]) if (table.has(p) || isVirtual(p)) notHere('rename', p);
      const a = need('rename', from);
      const b = need('rename', to);
      if (a.mount !== b.mount) {
        throw new ShylockError('EXDEV', `rename ${from} → ${to}: they are on different backends`, {
          op: 'rename',
          path: from,
          backend: name,
        });
      }
      if (typeof a.backend.rename !== 'function') {
        throw new ShylockError('ENOSYS', `rename: ${a.backend.name} does not support it`, { op: 'rename' });
      }
      return via('rename', from, a, () => a.backend.rename!(a.inner, b.inner));
    },
    async truncate(path, size) {
      if (isVirtual(path) || table.has(path)) {
        throw new ShylockError('EISDIR', `truncate ${path}: is a directory`, { op: 'truncate', path, backend: name });
      }
      const r = need('truncate', path);
      return via('truncate', path, r, () => method('truncate', r)(r.inner, size));
    },
    async chmod(path, mode) {
      if (isVirtual(path)) notHere('chmod', path);
      const r = need('chmod', path);
      return via('chmod', path, r, () => method('chmod', r)(r.inner, mode));
    },
    async utimes(path, atimeMs, mtimeMs) {
      if (isVirtual(path)) notHere('utimes', path);
      const r = need('utimes', path);
      return via('utimes', path, r, () => method('utimes', r)(r.inner, atimeMs, mtimeMs));
    },
    async chown(path, uid, gid) {
      if (isVirtual(path)) notHere('chown', path);
      const r = need('chown', path);
      return via('chown', path, r, () => method('chown', r)(r.inner, uid, gid));
    },
    async mknod(path, mode, dev) {
      if (table.has(path) || isVirtual(path)) {
        throw new ShylockError('EEXIST', `mknod ${path}: it exists`, { op: 'mknod', path, backend: name });
      }
      const r = need('mknod', path);
      return via('mknod', path, r, () => method('mknod', r)(r.inner, mode, dev));
    },
    async readlink(path) {
      const r = need('readlink', path);
      return via('readlink', path, r, () => method('readlink', r)(r.inner));
    },
    // Extended attributes where a member has them; a member without answers ENOTSUP (ENOSYS would
    // make the kernel stop asking the whole mount).
    ...(all.some((b) => b.getxattr)
      ? {
          async getxattr(path: string, attr: string) {
            if (isVirtual(path)) notHere('getxattr', path);
            const r = need('getxattr', path);
            return via('getxattr', path, r, () => method('getxattr', r)(r.inner, attr));
          },
          async setxattr(path: string, attr: string, value: Uint8Array, flags?: number) {
            if (isVirtual(path)) notHere('setxattr', path);
            const r = need('setxattr', path);
            return via('setxattr', path, r, () => method('setxattr', r)(r.inner, attr, value, flags));
          },
          async listxattr(path: string) {
            if (isVirtual(path)) return [];
            const r = need('listxattr', path);
            return via('listxattr', path, r, () => method('listxattr', r)(r.inner));
          },
          async removexattr(path: string, attr: string) {
            if (isVirtual(path)) notHere('removexattr', path);
            const r = need('removexattr', path);
            return via('removexattr', path, r, () => method('removexattr', r)(r.inner, attr));
          },
        }
      : {}),
    async symlink(target, path) {
      if (table.has(path) || isVirtual(path)) {
        throw new ShylockError('EEXIST', `symlink ${path}: it exists`, { op: 'symlink', path, backend: name });
      }
      const r = need('symlink', path);
      if (!r.backend.symlink) throw new ShylockError('ENOSYS', `symlink: ${r.backend.name} does not support it`);
      return via('symlink', path, r, () => r.backend.symlink!(target, r.inner));
    },
    async link(from, to) {
      for (const p of [from, to]) if (table.has(p) || isVirtual(p)) notHere('link', p);
      const a = need('link', from);
      const b = need('link', to);
      if (a.mount !== b.mount) {
        throw new ShylockError('EXDEV', `link ${from} → ${to}: they are on different backends`, { op: 'link', path: to });
      }
      if (!a.backend.link) throw new ShylockError('ENOSYS', `link: ${a.backend.name} does not support it`);
      return via('link', to, a, () => a.backend.link!(a.inner, b.inner));
    },
    ...([...table.values()].some((b) => b.watch)
      ? {
          watch(listener: (path: string | null) => void) {
            // Each member's paths, seen from the composed root.
            const stops = [...table].flatMap(([mount, b]) =>
              b.watch
                ? [b.watch((p) => listener(p === null ? null : mount === '/' ? p : p === '/' ? mount : mount + p))]
                : [],
            );
            return () => stops.forEach((stop) => stop());
          },
        }
      : {}),
    async close() {
      const results = await Promise.allSettled(all.map((b) => b.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  });
}
