import { randomUUID } from 'node:crypto';
import { ShylockError, type OpOptions } from '@shylock/core';
import type { ListOptions, ListPage, ObjectInfo, ObjectStore, ReadOptions, StoreLimits, UploadedPart } from './store.js';

/** Options of {@link memoryObjectStore}. */
export interface MemoryObjectStoreOptions {
  /** Upload sizes (default: S3's, with a 5 MiB minimum part). */
  limits?: Partial<StoreLimits>;
}

/** Keys listed per page, as S3 does. */
const PAGE = 1000;

/**
 * An {@link ObjectStore} in memory: the reference for adapters (it keeps the contract the way S3
 * does: key order, pages of 1,000, delimiter prefixes, ETags, If-Match, parts of at least the
 * minimum size), and a store for tests of {@link objectBackend} itself.
 */
export function memoryObjectStore(options: MemoryObjectStoreOptions = {}): ObjectStore & {
  /** The stored objects, for tests. */
  readonly objects: Map<string, { data: Uint8Array; mtimeMs: number; etag: string }>;
  /** Uploads begun and neither completed nor aborted. */
  readonly uploads: Map<string, { key: string; parts: Map<number, Uint8Array> }>;
} {
  const limits: StoreLimits = {
    minPartSize: 5 << 20,
    maxPartSize: 5 * 2 ** 30,
    maxParts: 10_000,
    maxObjectSize: 5 * 2 ** 40,
    ...options.limits,
  };
  const objects = new Map<string, { data: Uint8Array; mtimeMs: number; etag: string }>();
  const uploads = new Map<string, { key: string; parts: Map<number, Uint8Array> }>();
  const missing = (key: string) => new ShylockError('ENOENT', `no such key: ${key}`);
  const store = (key: string, data: Uint8Array) => {
    const etag = `"${randomUUID()}"`;
    objects.set(key, { data, mtimeMs: Date.now(), etag });
    return { etag };
  };
  const info = (key: string): ObjectInfo => {
    const o = objects.get(key)!;
    return { key, size: o.data.length, mtimeMs: o.mtimeMs, etag: o.etag };
  };
  const upload = (id: string) => {
    const u = uploads.get(id);
    if (!u) throw new ShylockError('ENOENT', `no such upload: ${id}`);
    return u;
  };
  return {
    name: 'memory-objects',
    where: 'memory',
    limits,
    objects,
    uploads,
    async list(prefix: string, o: ListOptions = {}): Promise<ListPage> {
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      const limit = Math.min(o.limit ?? PAGE, PAGE);
      const page: ListPage = { objects: [], prefixes: [] };
      let last: string | undefined;
      for (const k of keys) {
        if (o.token !== undefined && k <= o.token) continue;
        if (page.objects.length + page.prefixes.length === limit) {
          page.next = last!;
          break;
        }
        const slash = o.delimiter ? k.indexOf('/', prefix.length) : -1;
        if (slash >= 0) {
          const p = k.slice(0, slash + 1);
          if (page.prefixes.at(-1) !== p) page.prefixes.push(p);
          // The page ends after the last key under this prefix, as S3's continuation does.
          last = `${p}\u{10ffff}`;
          continue;
        }
        page.objects.push(info(k));
        last = k;
      }
      return page;
    },
    async head(key: string, _o?: OpOptions) {
      return objects.has(key) ? info(key) : null;
    },
    async read(key: string, start: number, end: number, o: ReadOptions = {}) {
      const obj = objects.get(key);
      if (!obj) throw missing(key);
      if (o.etag !== undefined && o.etag !== obj.etag) throw new ShylockError('EIO', `${key} changed while it was being read`);
      return obj.data.slice(start, end);
    },
    async stream(key: string, start: number, end: number, o: ReadOptions = {}) {
      const obj = objects.get(key);
      if (!obj) throw missing(key);
      const data = obj.data;
      return (async function* () {
        for (let at = start; at < end; at += 64 << 10) {
          if (o.etag !== undefined && o.etag !== objects.get(key)?.etag)
            throw new ShylockError('EIO', `${key} changed while it was being read`);
          yield data.slice(at, Math.min(end, at + (64 << 10)));
        }
      })();
    },
    async put(key: string, body: Uint8Array) {
      return store(key, new Uint8Array(body));
    },
    async startUpload(key: string) {
      const id = randomUUID();
      uploads.set(id, { key, parts: new Map() });
      return id;
    },
    async uploadPart(_key: string, id: string, n: number, body: Uint8Array) {
      upload(id).parts.set(n, new Uint8Array(body));
      return `"part-${n}-${body.length}"`;
    },
    async completeUpload(key: string, id: string, parts: UploadedPart[]) {
      const u = upload(id);
      const chunks = parts.map((p, i) => {
        const c = u.parts.get(p.partNumber);
        if (!c) throw new ShylockError('EIO', `upload ${id}: no part ${p.partNumber}`);
        if (i < parts.length - 1 && c.length < limits.minPartSize)
          throw new ShylockError('EIO', `upload ${id}: part ${p.partNumber} is smaller than the minimum`);
        return c;
      });
      uploads.delete(id);
      return store(key, Buffer.concat(chunks));
    },
    async abortUpload(_key: string, id: string) {
      uploads.delete(id);
    },
    async copy(from: string, to: string) {
      const o = objects.get(from);
      if (!o) throw missing(from);
      store(to, o.data);
    },
    async delete(keys: string[]) {
      for (const k of keys) objects.delete(k);
    },
    async close() {},
  };
}
