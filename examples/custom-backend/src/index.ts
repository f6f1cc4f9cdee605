// A key/value backend on a Map: keys are file paths, directories are key prefixes.
import { createBufferedHandle, defineBackend, NO_CAPABILITIES, ShylockError, type Backend } from '@shylock/core';

export function mapBackend(store = new Map<string, Uint8Array>()): Backend {
  const isDir = (p: string) => p === '/' || [...store.keys()].some((k) => k.startsWith(p + '/'));
  const missing = (p: string) => new ShylockError('ENOENT', `${p}: no such file or directory`);
  return defineBackend({
    name: 'map',
    capabilities: { ...NO_CAPABILITIES, read: true, write: true, list: true, unlink: true, randomWrite: true, append: true },
    async stat(p) {
      const value = store.get(p),
        mtimeMs = Date.now();
      if (value) return { type: 'file', size: value.length, mode: 0o644, mtimeMs };
      if (isDir(p)) return { type: 'directory', size: 0, mode: 0o755, mtimeMs };
      throw missing(p);
    },
    async list(p) {
      if (store.has(p)) throw new ShylockError('ENOTDIR', `${p}: not a directory`);
      if (!isDir(p)) throw missing(p);
      const prefix = p === '/' ? '/' : p + '/';
      const names = new Map<string, 'file' | 'directory'>();
      for (const [name, ...rest] of [...store.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('/')))
        names.set(name!, rest.length ? 'directory' : 'file');
      return [...names].map(([name, type]) => ({ name, type }));
    },
    async open(p, flags) {
      const value = store.get(p);
      if (value && flags.create && flags.exclusive) throw new ShylockError('EEXIST', `${p}: exists`);
      if (!value && isDir(p)) throw new ShylockError('EISDIR', `${p}: is a directory`);
      if (!value && !flags.create) throw missing(p);
      if (store.has(p.slice(0, p.lastIndexOf('/')))) throw new ShylockError('ENOTDIR', `${p}: a parent is a file`);
      const commit = async (data: Uint8Array) => void store.set(p, data);
      return createBufferedHandle({ path: p, backend: 'map', flags, initial: value, dirty: !value, commit });
    },
    unlink: async (p) => {
      if (!store.delete(p)) throw isDir(p) ? new ShylockError('EISDIR', `${p}: is a directory`) : missing(p);
    },
    close: async () => {},
  });
}
