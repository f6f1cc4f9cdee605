import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseName,
  defineBackend,
  FILE_TREE_CAPABILITIES,
  isUnder,
  NAME_MAX,
  nameByteLength,
  normalizePath,
  parentPath,
  readOnly as readOnlyLayer,
  ShylockError,
  type Backend,
  type DirEntry,
  type FileHandle,
  type OpenFlags,
  type Stat,
} from '@shylock/core';
import { ListingCache, type Known } from './listing.js';
import { ObjectReader } from './reader.js';
import type { ObjectStore } from './store.js';
import { ObjectWriter } from './writer.js';

/** Options of {@link objectBackend}. */
export interface ObjectBackendOptions {
  /** Mount only the keys under this prefix (`photos/2026`); default: the whole bucket. */
  prefix?: string;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /** Bytes per uploaded part, and the largest single PUT (default 8 MiB; at least the store's minimum). */
  partSize?: number;
  /** Parts uploaded at once per file (default 4). */
  uploadConcurrency?: number;
  /** Most bytes fetched ahead of a sequential reader (default 64 MiB; 0 = none). */
  readAhead?: number;
  /** How long a listing answers `stat` and lookups, in ms (default 10000; 0 = never cached). */
  cacheTtlMs?: number;
  /** Where spool files go (default `<os temp dir>/shylock-spool`). */
  spoolDir?: string;
}

/** The default part size: 8 MiB. */
export const DEFAULT_PART_SIZE = 8 << 20;
/** The default read-ahead: 64 MiB. */
export const DEFAULT_READ_AHEAD = 64 << 20;
/** Objects up to this size are fetched whole at their first read. */
const WHOLE = 1 << 20;
/** Keys copied or deleted at once by a directory rename. */
const BATCH = 16;

const FILE_MODE = 0o644;
const READ_ONLY_MODE = 0o444;
/** st_blksize of files: 1 MiB, so cp and dd move them in 1 MiB pieces (a FUSE request each). */
const BLKSIZE = 1 << 20;
const DIR_MODE = 0o755;

/** Object keys that can't be names of this tree (`a//b`, `.`, `..`, too long) are left out of listings. */
const validName = (name: string) => name !== '' && name !== '.' && name !== '..' && !name.includes('/') && nameByteLength(name) <= NAME_MAX;

/**
 * An object store as a file tree. A path is a key (`/a/b.txt` → `<prefix>a/b.txt`); `/` in keys
 * are directories, listed with a delimiter; an empty directory is a marker object `dir/` (as the
 * S3 console and rclone make them). Reads are ranged GETs with read-ahead; a file written from
 * its start streams as a multipart upload; other writes go through a spool file, uploaded at
 * flush/close. `stat` after a listing costs no request. Rename is copy + delete (not atomic).
 *
 * Adapters (`@shylock/s3`, `@shylock/gcs`) implement {@link ObjectStore} and call this.
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function objectBackend(store: ObjectStore, options: ObjectBackendOptions = {}): Backend {
  const partSize = options.partSize ?? Math.max(DEFAULT_PART_SIZE, store.limits.minPartSize);
  const concurrency = options.uploadConcurrency ?? 4;
  const readAhead = options.readAhead ?? DEFAULT_READ_AHEAD;
  const ttl = options.cacheTtlMs ?? 10_000;
  const spoolDir = options.spoolDir ?? join(tmpdir(), 'shylock-spool');
  const check = (what: string, value: number, ok: boolean, want: string) => {
    if (!Number.isSafeInteger(value) || !ok) throw new ShylockError('EINVAL', `${store.name}: ${what} must be ${want}, got ${value}`);
  };
  check(
    'partSize',
    partSize,
    partSize >= store.limits.minPartSize && partSize <= store.limits.maxPartSize && partSize % (store.limits.partMultiple ?? 1) === 0,
    `between ${store.limits.minPartSize} and ${store.limits.maxPartSize} bytes${store.limits.partMultiple ? `, a multiple of ${store.limits.partMultiple}` : ''}`,
  );
  check('uploadConcurrency', concurrency, concurrency >= 1 && concurrency <= 64, 'from 1 to 64');
  check('readAhead', readAhead, readAhead >= 0, 'a non-negative number of bytes');
  check('cacheTtlMs', ttl, ttl >= 0, 'a non-negative number of ms');
  let prefix = '';
  if (options.prefix !== undefined && options.prefix.replace(/^\/+|\/+$/g, '') !== '') {
    prefix = `${normalizePath(`/${options.prefix.replace(/^\/+/, '')}`, `${store.name} prefix`).slice(1)}/`;
  }

  const key = (path: string) => prefix + path.slice(1);
  const dirKey = (path: string) => (path === '/' ? prefix : `${key(path)}/`);
  const cache = new ListingCache(ttl);
  const started = Date.now();
  const dirStat = (mtimeMs = started): Stat => ({ type: 'directory', size: 0, mode: DIR_MODE, mtimeMs });
  const fileKnown = (size: number, mtimeMs: number, etag?: string, readOnly?: boolean): Known => ({
    stat: { type: 'file', size, mode: readOnly ? READ_ONLY_MODE : FILE_MODE, mtimeMs, blksize: BLKSIZE },
    ...(etag === undefined ? {} : { etag }),
  });
  const refuseReadOnly = (op: string, path: string, k: Known | null) => {
    if (k?.stat.type === 'file' && k.stat.mode === READ_ONLY_MODE) {
      throw new ShylockError('EROFS', `${op} ${path}: read-only in ${store.where} (an export: change it where it was made)`);
    }
  };
  const reader = { readAhead, chunk: 8 << 20, whole: WHOLE };
  /** Files open for writing, by path: their size so far answers stat and listings. */
  const writing = new Map<string, Set<ObjectWriter>>();
  /** Modification times set while a file was open for writing, applied when the last writer closed. */
  const timesAfterClose = new Map<string, number>();

  const enoent = (op: string, path: string) => new ShylockError('ENOENT', `${op} ${path}: no such file or directory in ${store.where}`);

  /** What `path` is: from a writer, a fresh listing, or a HEAD and a one-key LIST side by side. */
  const find = async (path: string): Promise<Known | null> => {
    if (path === '/') return { stat: dirStat() };
    const open = writing.get(path);
    if (open?.size) return { stat: [...open][0]!.stat() };
    // A name in a fresh listing is answered from it; one missing from it is asked for, as
    // another client may have just made it.
    const cached = cache.lookup(path);
    if (cached) return cached;
    const [head, below] = await Promise.all([store.head(key(path)), store.list(dirKey(path), { limit: 1 })]);
    // A key and a directory of the same name: the directory wins (as in listings).
    const found =
      below.objects.length > 0 || below.prefixes.length > 0
        ? { stat: dirStat() }
        : head && fileKnown(head.size, head.mtimeMs, head.etag, head.readOnly);
    // A name found by asking joins its parent's fresh listing, so its next lookup is free.
    if (found) cache.put(path, found);
    return found;
  };
  const need = async (op: string, path: string): Promise<Known> => {
    const k = await find(path);
    if (!k) throw enoent(op, path);
    return k;
  };
  /** A new name's parent must be a directory. */
  const parentDir = async (op: string, path: string) => {
    const parent = parentPath(path);
    const p = await find(parent);
    if (!p) throw new ShylockError('ENOENT', `${op} ${path}: ${parent} does not exist`);
    if (p.stat.type !== 'directory') throw new ShylockError('ENOTDIR', `${op} ${path}: ${parent} is not a directory`);
  };
  /** Every key under a prefix, page by page. */
  const allKeys = async (under: string): Promise<{ key: string; size: number }[]> => {
    const out: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await store.list(under, token === undefined ? {} : { token });
      for (const o of page.objects) out.push({ key: o.key, size: o.size });
      token = page.next;
    } while (token !== undefined);
    return out;
  };
  /**
   * A directory emptied by a delete or a move away keeps existing, as in a file system: when
   * no key is left under it, its marker is written.
   */
  const keepDir = async (dir: string) => {
    if (dir === '/') return;
    const page = await store.list(dirKey(dir), { limit: 1 });
    if (page.objects.length === 0 && page.prefixes.length === 0) await store.put(dirKey(dir), new Uint8Array(0));
  };
  const inBatches = async <T>(items: T[], work: (item: T) => Promise<unknown>) => {
    for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(work));
  };

  const list = async (path: string): Promise<Map<string, Known>> => {
    const cached = cache.listing(path);
    if (cached) return cached;
    const under = dirKey(path);
    const entries = new Map<string, Known>();
    // Any key under it (a marker, a name this tree can't show) makes it a directory.
    let exists = path === '/';
    let token: string | undefined;
    do {
      const page = await store.list(under, { delimiter: true, ...(token === undefined ? {} : { token }) });
      if (page.objects.length > 0 || page.prefixes.length > 0) exists = true;
      for (const o of page.objects) {
        const name = o.key.slice(under.length);
        if (validName(name) && !entries.has(name)) entries.set(name, fileKnown(o.size, o.mtimeMs, o.etag, o.readOnly));
      }
      for (const p of page.prefixes) {
        const name = p.slice(under.length, -1);
        if (validName(name)) entries.set(name, { stat: dirStat() });
      }
      token = page.next;
    } while (token !== undefined);
    if (!exists) {
      const head = await store.head(key(path));
      throw head
        ? new ShylockError('ENOTDIR', `list ${path}: is a file`)
        : new ShylockError('ENOENT', `list ${path}: no such directory in ${store.where}`);
    }
    cache.set(path, entries);
    return entries;
  };

  const openWriter = (path: string, flags: OpenFlags, existing: Known | null): FileHandle => {
    const w: ObjectWriter = new ObjectWriter({
      store,
      key: key(path),
      path,
      flags,
      existing: existing
        ? { size: existing.stat.size, mtimeMs: existing.stat.mtimeMs, ...(existing.etag ? { etag: existing.etag } : {}) }
        : null,
      partSize,
      concurrency,
      spoolDir,
      reader,
      stored: (info) => cache.put(path, fileKnown(info.size, info.mtimeMs, info.etag)),
    });
    let set = writing.get(path);
    if (!set) writing.set(path, (set = new Set()));
    set.add(w);
    if (!existing) cache.put(path, { stat: w.stat() });
    const done = () => {
      set.delete(w);
      if (set.size === 0 && writing.get(path) === set) writing.delete(path);
    };
    return {
      read: (buffer, position) => {
        if (!flags.read) throw new ShylockError('EBADF', `read ${path}: the file was not opened for reading`);
        return w.read(buffer, position);
      },
      write: (data, position) => {
        if (!flags.write) throw new ShylockError('EBADF', `write ${path}: the file was not opened for writing`);
        return w.write(data, position);
      },
      truncate: (size) => {
        if (!flags.write) throw new ShylockError('EBADF', `truncate ${path}: the file was not opened for writing`);
        return w.truncate(size);
      },
      stat: async () => w.stat(),
      flush: () => w.flush(),
      sync: () => w.flush(),
      close: async () => {
        try {
          await w.close();
        } catch (e) {
          // Not stored: what the store holds at this path is unknown here now (a file created
          // by this open is not there at all).
          cache.drop(path);
          timesAfterClose.delete(path);
          throw e;
        } finally {
          done();
        }
        const mtimeMs = timesAfterClose.get(path);
        if (mtimeMs !== undefined && !writing.get(path)?.size && store.touch) {
          timesAfterClose.delete(path);
          const info = await store.touch(key(path), mtimeMs);
          cache.put(path, fileKnown(info.size, info.mtimeMs, info.etag, info.readOnly));
        }
      },
    };
  };

  const backend = defineBackend({
    name: store.name,
    capabilities: { ...FILE_TREE_CAPABILITIES, copy: true, utimes: store.touch !== undefined && store.keepsMtime === true },
    async stat(path) {
      return (await need('stat', path)).stat;
    },
    async list(path) {
      const entries = new Map(await list(path));
      // Files being written that the store does not hold yet are there too.
      for (const [p, set] of writing) {
        if (set.size > 0 && parentPath(p) === path) entries.set(baseName(p), { stat: [...set][0]!.stat() });
      }
      return [...entries].map(([name, k]): DirEntry => ({ name, type: k.stat.type, stat: k.stat }));
    },
    async open(path, flags) {
      const known = await find(path);
      if (known?.stat.type === 'directory') throw new ShylockError('EISDIR', `open ${path}: is a directory`);
      if (flags.write || flags.truncate) {
        refuseReadOnly('open', path, known);
        if (!known) {
          if (!flags.create) throw enoent('open', path);
          await parentDir('open', path);
        } else if (flags.create && flags.exclusive) {
          throw new ShylockError('EEXIST', `open ${path}: it exists`);
        }
        return openWriter(path, flags, known);
      }
      if (!known) throw enoent('open', path);
      let cursor = 0;
      const writer = writing.get(path)?.values().next().value;
      if (writer) {
        // Open for writing here too: read what it holds, written or not yet stored.
        return {
          async read(buffer, position) {
            const n = await writer.read(buffer, position ?? cursor);
            if (position === null) cursor += n;
            return n;
          },
          stat: async () => writer.stat(),
          close: async () => {},
        };
      }
      const r = new ObjectReader(store, key(path), known.stat.size, known.etag, reader);
      return {
        async read(buffer, position) {
          const n = await r.read(buffer, position ?? cursor);
          if (position === null) cursor += n;
          return n;
        },
        stat: async () => known.stat,
        close: async () => r.release(),
      };
    },
    async mkdir(path) {
      if (await find(path)) throw new ShylockError('EEXIST', `mkdir ${path}: it exists`);
      await parentDir('mkdir', path);
      await store.put(dirKey(path), new Uint8Array(0));
      cache.put(path, { stat: dirStat(Date.now()) });
    },
    async rmdir(path) {
      if (path === '/') throw new ShylockError('EBUSY', `rmdir /: the root of the mount can't be removed`);
      const page = await store.list(dirKey(path), { limit: 2 });
      const inside = page.objects.filter((o) => o.key !== dirKey(path));
      if (inside.length > 0 || page.prefixes.length > 0 || [...writing.keys()].some((p) => isUnder(p, path) && p !== path)) {
        throw new ShylockError('ENOTEMPTY', `rmdir ${path}: the directory is not empty`);
      }
      if (page.objects.length === 0) {
        const head = await store.head(key(path));
        throw head ? new ShylockError('ENOTDIR', `rmdir ${path}: is a file`) : enoent('rmdir', path);
      }
      await store.delete([dirKey(path)]);
      cache.drop(path);
      await keepDir(parentPath(path));
    },
    async unlink(path) {
      const k = await need('unlink', path);
      if (k.stat.type === 'directory') throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
      await store.delete([key(path)]);
      cache.drop(path);
      await keepDir(parentPath(path));
    },
    async rename(from, to) {
      const src = await need('rename', from);
      if (from === to) return;
      if (src.stat.type === 'directory' && isUnder(to, from)) {
        throw new ShylockError('EINVAL', `rename ${from}: can't move a directory into itself (${to})`);
      }
      if (writing.get(from)?.size || [...writing.keys()].some((p) => isUnder(p, from))) {
        throw new ShylockError('EBUSY', `rename ${from}: it is open for writing; close it first`);
      }
      await parentDir('rename', to);
      const dst = await find(to);
      if (src.stat.type === 'file') {
        if (dst?.stat.type === 'directory') throw new ShylockError('EISDIR', `rename ${from}: ${to} is a directory`);
        if (store.move) await store.move(key(from), key(to), false);
        else {
          await store.copy(key(from), key(to), src.stat.size);
          await store.delete([key(from)]);
        }
      } else if (store.move) {
        if (dst?.stat.type === 'file') throw new ShylockError('ENOTDIR', `rename ${from}: ${to} is not a directory`);
        if (dst) {
          const page = await store.list(dirKey(to), { limit: 2 });
          if (page.objects.some((o) => o.key !== dirKey(to)) || page.prefixes.length > 0) {
            throw new ShylockError('ENOTEMPTY', `rename ${from}: ${to} is not empty`);
          }
        }
        await store.move(dirKey(from), dirKey(to), true);
        cache.clear(); // every path under both moved
      } else {
        if (dst?.stat.type === 'file') throw new ShylockError('ENOTDIR', `rename ${from}: ${to} is not a directory`);
        if (dst) {
          const page = await store.list(dirKey(to), { limit: 2 });
          if (page.objects.some((o) => o.key !== dirKey(to)) || page.prefixes.length > 0) {
            throw new ShylockError('ENOTEMPTY', `rename ${from}: ${to} is not empty`);
          }
        }
        // Not atomic: every key is copied, then the old ones are deleted.
        const keys = await allKeys(dirKey(from));
        const base = dirKey(from);
        // Markers (`dir/`) are written anew, not copied: some servers keep them as directories.
        await inBatches(keys, (k) => {
          const target = dirKey(to) + k.key.slice(base.length);
          return k.key.endsWith('/') && k.size === 0 ? store.put(target, new Uint8Array(0)) : store.copy(k.key, target, k.size);
        });
        if (!keys.some((k) => k.key === base)) await store.put(dirKey(to), new Uint8Array(0));
        for (let i = 0; i < keys.length; i += 1000) await store.delete(keys.slice(i, i + 1000).map((k) => k.key));
      }
      cache.drop(from);
      cache.drop(to);
      await keepDir(parentPath(from));
    },
    ...(store.touch
      ? {
          /**
           * `touch`: a file's time set again where the store can (see ObjectStore.touch). A
           * directory has no time of its own to keep (setting one is accepted, as tar and cp -p
           * do for every directory they make); a file being written gets its time at close.
           */
          async utimes(path: string, _atimeMs: number, mtimeMs: number) {
            const k = await need('utimes', path);
            if (k.stat.type === 'directory') return;
            if (writing.get(path)?.size) {
              // Open for writing (touch opens the file, then sets its times): set once it is stored.
              if (store.keepsMtime) timesAfterClose.set(path, mtimeMs);
              return;
            }
            if (Math.abs(mtimeMs - k.stat.mtimeMs) < 2000) return; // already that time (touch of a file just made)
            if (!store.keepsMtime && Math.abs(mtimeMs - Date.now()) > 5000) {
              throw new ShylockError(
                'EPERM',
                `utimes ${path}: ${store.where} keeps only when an object was last written: touch sets it to now, another time can't be kept`,
              );
            }
            refuseReadOnly('utimes', path, k);
            const info = await store.touch!(key(path), mtimeMs);
            cache.put(path, fileKnown(info.size, info.mtimeMs, info.etag, info.readOnly));
          },
        }
      : {}),
    async truncate(path, size) {
      const k = await need('truncate', path);
      if (k.stat.type === 'directory') throw new ShylockError('EISDIR', `truncate ${path}: is a directory`);
      refuseReadOnly('truncate', path, k);
      const h = openWriter(path, { read: false, write: true, create: false, exclusive: false, truncate: false, append: false }, k);
      try {
        await h.truncate!(size);
      } finally {
        await h.close();
      }
    },
    async copy(from, to) {
      const src = await need('copy', from);
      if (src.stat.type === 'directory') throw new ShylockError('EISDIR', `copy ${from}: is a directory`);
      if ((await find(to))?.stat.type === 'directory') throw new ShylockError('EEXIST', `copy ${from}: ${to} is a directory`);
      await parentDir('copy', to);
      await store.copy(key(from), key(to), src.stat.size);
      cache.drop(to);
    },
    async statfs() {
      const huge = 2 ** 40;
      return { bsize: 4096, blocks: huge, bfree: huge, bavail: huge, files: huge, ffree: huge, namemax: NAME_MAX };
    },
    async close() {
      // Files still open for writing are stored first; the first that can't be is the error
      // (its data is in the spool that error names).
      const open = [...writing.values()].flatMap((set) => [...set]);
      const results = await Promise.allSettled(open.map((w) => w.close()));
      writing.clear();
      cache.clear();
      await store.close();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  });
  return options.readOnly ? readOnlyLayer(backend) : backend;
}
