import { defineBackend, NO_CAPABILITIES } from './define.js';
import { isShylockError, ShylockError } from './errors.js';
import { normalizePath, splitPath } from './path.js';
import { BACKEND_METHODS, type ComposeAnswer, type MethodRow, PATH_METHODS } from './methods.js';
import type { Backend, Capabilities, DirEntry, Stat } from './types.js';

/** Why compose's own directories refuse a call. */
const OWN_DIRECTORY: Record<Exclude<ComposeAnswer, 'EMPTY'>, string> = {
  EEXIST: 'it exists',
  EISDIR: 'is a directory',
  EBUSY: 'a backend is mounted there',
  EPERM: 'this directory only holds mounts',
  ENODATA: 'no such attribute: this directory only holds mounts',
};

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
  const all = [...table.values()];
  const capabilities = {} as Capabilities;
  for (const key of Object.keys(NO_CAPABILITIES) as (keyof Capabilities)[]) {
    capabilities[key] = all.every((b) => b.capabilities[key]);
  }

  /**
   * Every optional method, routed from the method table: each path argument to the member that
   * holds it (two paths on two members: EXDEV), compose's own directories answering what the
   * table says, a member without the method ENOSYS (ENOTSUP for extended attributes, so the
   * kernel does not stop asking the whole mount). Extended attributes exist where a member has them.
   */
  const routed: Record<string, unknown> = {};
  const anyXattr = all.some((b) => b.getxattr);
  for (const method of PATH_METHODS) {
    const row: MethodRow = BACKEND_METHODS[method];
    if (row.xattr && !anyXattr) continue;
    const subject = row.subject ?? row.paths[0]!;
    routed[method] = async (...args: unknown[]) => {
      for (const i of row.paths) {
        const p = args[i] as string;
        const answer = table.has(p) ? row.atMount : isVirtual(p) ? row.atVirtual : undefined;
        if (answer === 'EMPTY') return [];
        if (answer) throw new ShylockError(answer, `${method} ${p}: ${OWN_DIRECTORY[answer]}`, { op: method, path: p, backend: name });
      }
      const members = row.paths.map((i) => need(method, args[i] as string));
      const r = members[row.paths.indexOf(subject)]!;
      if (members.some((m) => m.mount !== r.mount)) {
        const [from, to] = row.paths.map((i) => args[i] as string);
        throw new ShylockError('EXDEV', `${method} ${from} → ${to}: they are on different backends`, {
          op: method,
          path: args[subject] as string,
          backend: name,
        });
      }
      const fn = r.backend[method] as ((...a: unknown[]) => Promise<unknown>) | undefined;
      if (typeof fn !== 'function') {
        throw new ShylockError(
          row.xattr ? 'ENOTSUP' : 'ENOSYS',
          `${method}: ${r.backend.name} at ${r.mount} ${row.xattr ? 'has no extended attributes' : 'does not support it'}`,
          { op: method, backend: r.backend.name },
        );
      }
      const inner = [...args];
      row.paths.forEach((i, k) => (inner[i] = members[k]!.inner));
      return via(method, args[subject] as string, r, () => fn.apply(r.backend, inner));
    };
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
    ...routed,
    ...([...table.values()].some((b) => b.watch)
      ? {
          watch(listener: (path: string | null) => void) {
            // Each member's paths, seen from the composed root.
            const stops = [...table].flatMap(([mount, b]) =>
              b.watch ? [b.watch((p) => listener(p === null ? null : mount === '/' ? p : p === '/' ? mount : mount + p))] : [],
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
