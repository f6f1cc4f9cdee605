import { describe, expect, it } from 'vitest';
import {
  BACKEND_METHODS,
  compose,
  defineBackend,
  forward,
  type Backend,
  type BackendMethod,
  type MethodRow,
  MUTATING_METHODS,
  NO_CAPABILITIES,
  PATH_METHODS,
  readOnly,
} from '../src/index.js';

// The method table and what derives from it, over a small backend of core's own that has every
// method and records each call with its arguments.

function recorder(nativeRoot?: string) {
  const calls: [string, unknown[]][] = [];
  const impl: Record<string, unknown> = {
    name: 'recorder',
    capabilities: { ...NO_CAPABILITIES, read: true, list: true },
    ...(nativeRoot ? { nativeRoot } : {}),
    stat: async (...a: unknown[]) => (calls.push(['stat', a]), { type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 }),
    list: async (...a: unknown[]) => (calls.push(['list', a]), []),
    open: async (...a: unknown[]) => (calls.push(['open', a]), { read: async () => 0, close: async () => {} }),
    close: async () => {},
    statfs: async () => ({ bsize: 1, blocks: 1, bfree: 1, bavail: 1, files: 1, ffree: 1, namemax: 255 }),
    watch: () => () => {},
  };
  for (const m of PATH_METHODS) {
    impl[m] = async (...a: unknown[]) => {
      calls.push([m, a]);
      return m === 'listxattr' ? [] : m === 'readlink' ? 't' : m === 'getxattr' ? new Uint8Array() : undefined;
    };
  }
  return { backend: defineBackend(impl as unknown as Parameters<typeof defineBackend>[0]), calls };
}

/** Arguments for a method: paths where the table says, a symlink target, numbers elsewhere. */
function argsOf(method: BackendMethod, base = '/a'): unknown[] {
  const row: MethodRow = BACKEND_METHODS[method];
  const n = Math.max(2, ...row.paths.map((i) => i + 1));
  return Array.from({ length: n }, (_, i) => (row.paths.includes(i) ? `${base}/${i}` : method === 'symlink' ? 'target' : 0));
}

describe('the method table', () => {
  it('defineBackend normalises every path argument of every method', async () => {
    const { backend, calls } = recorder();
    for (const m of PATH_METHODS) {
      const args = argsOf(m, '/a//b/');
      await (backend[m] as (...a: unknown[]) => Promise<unknown>)(
        ...args.map((a) => (typeof a === 'string' && a !== 'target' ? `${a}/` : a)),
      );
      const seen = calls.at(-1)!;
      expect(seen[0]).toBe(m);
      for (const i of BACKEND_METHODS[m].paths) expect(seen[1][i]).toBe(`/a/b/${i}`);
    }
  });

  it('a path escaping the root is refused by every method before the backend sees it', async () => {
    const { backend, calls } = recorder();
    for (const m of PATH_METHODS) {
      const row: MethodRow = BACKEND_METHODS[m];
      const args = argsOf(m);
      args[row.paths[0]!] = '/../x';
      await expect((backend[m] as (...a: unknown[]) => Promise<unknown>)(...args)).rejects.toMatchObject({ code: 'EINVAL' });
    }
    expect(calls).toEqual([]);
  });

  it('readOnly refuses every mutating method with EROFS naming its subject path, and passes the rest', async () => {
    const { backend, calls } = recorder();
    const ro = readOnly(backend);
    for (const m of PATH_METHODS) {
      const row: MethodRow = BACKEND_METHODS[m];
      const call = (ro[m] as (...a: unknown[]) => Promise<unknown>)(...argsOf(m));
      if (row.mutates) await expect(call).rejects.toMatchObject({ code: 'EROFS', path: `/a/${row.subject ?? 0}` });
      else await call;
    }
    expect(calls.map(([m]) => m).sort()).toEqual(PATH_METHODS.filter((m) => !MUTATING_METHODS.has(m)).sort());
  });

  it('forward passes every method on, and keeps nativeRoot only when the answers it bypasses stay right', async () => {
    const { backend, calls } = recorder('/srv');
    const plain = forward(backend, {});
    for (const m of PATH_METHODS) await (plain[m] as (...a: unknown[]) => Promise<unknown>)(...argsOf(m));
    expect(calls.map(([m]) => m)).toEqual([...PATH_METHODS]);
    expect(plain.nativeRoot).toBe('/srv');
    const overridingStat = forward(backend, { stat: async () => ({ type: 'file', size: 1, mode: 0o644, mtimeMs: 0 }) });
    expect(overridingStat.nativeRoot).toBeUndefined();
    expect(forward(backend, { stat: backend.stat }, { keepNativeRoot: true }).nativeRoot).toBe('/srv');
    expect(forward(backend, { unlink: backend.unlink! }).nativeRoot).toBe('/srv');
  });

  it('compose routes every method to the member holding its paths, and answers for its own directories', async () => {
    const one = recorder();
    const two = recorder();
    const c = compose({ '/one': one.backend, '/dc/two': two.backend });
    for (const m of PATH_METHODS) {
      const row: MethodRow = BACKEND_METHODS[m];
      await (c[m] as (...a: unknown[]) => Promise<unknown>)(...argsOf(m, '/one/x'));
      const [seen, args] = one.calls.at(-1)!;
      expect(seen).toBe(m);
      for (const i of row.paths) expect(args[i]).toBe(`/x/${i}`);
      // Two paths on two members: EXDEV.
      if (row.paths.length === 2) {
        const across = argsOf(m, '/one/x');
        across[row.paths[1]!] = '/dc/two/y';
        await expect((c[m] as (...a: unknown[]) => Promise<unknown>)(...across)).rejects.toMatchObject({ code: 'EXDEV' });
      }
      // A directory that only holds mounts answers what the table says.
      const atVirtual = argsOf(m);
      for (const i of row.paths) atVirtual[i] = '/dc';
      const call = (c[m] as (...a: unknown[]) => Promise<unknown>)(...atVirtual);
      if (row.atVirtual === 'EMPTY') expect(await call).toEqual([]);
      else if (row.atVirtual) await expect(call).rejects.toMatchObject({ code: row.atVirtual });
      else await call.catch(() => undefined);
    }
  });

  it('compose answers ENOSYS for a member without the method, ENOTSUP for extended attributes', async () => {
    const bare = defineBackend({
      name: 'bare',
      capabilities: NO_CAPABILITIES,
      stat: async () => ({ type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 }),
      list: async () => [],
      open: async () => ({ read: async () => 0, close: async () => {} }),
      close: async () => {},
    });
    const { backend } = recorder();
    const c: Backend = compose({ '/bare': bare, '/full': backend });
    await expect(c.mkdir!('/bare/x')).rejects.toMatchObject({ code: 'ENOSYS' });
    await expect(c.copy!('/bare/x', '/bare/y')).rejects.toMatchObject({ code: 'ENOSYS' });
    await expect(c.getxattr!('/bare/x', 'user.a')).rejects.toMatchObject({ code: 'ENOTSUP' });
  });
});
