import { Etcd3, type IOptions, type Watcher } from 'etcd3';
import { noop } from 'cockatiel';
import {
  openValueFile,
  defineBackend,
  FILE_TREE_CAPABILITIES,
  optionsFrom,
  parseBoolean,
  timeoutOption,
  parseList,
  type OptionDecl,
  normalizePath,
  readOnly as readOnlyLayer,
  ShylockError,
  STAT_CONTENT_MAX,
  type Backend,
  type DirEntry,
  type Stat,
} from '@shylock/core';
import { etcdError } from './errors.js';

/** etcd's default request limit (--max-request-bytes), less room for the key and framing. */
export const DEFAULT_MAX_VALUE_BYTES = 1.5 * 1024 * 1024 - 4096;

/** Options of {@link etcdBackend}. */
export interface EtcdBackendOptions {
  /** Client URLs; default `$ETC_HOSTS` (comma-separated) or `http://127.0.0.1:2379`. */
  endpoints?: string[] | string;
  /** Mount this key prefix as the root (default: the whole keyspace, keys starting with `/`). */
  prefix?: string;
  /** Refuse every change with EROFS (default `$ETC_READ_ONLY` = true/1). */
  readOnly?: boolean;
  /** Milliseconds before a request answers ETIMEDOUT (default 3000). */
  timeoutMs?: number;
  /** Largest value written; larger ones reject EFBIG (default 1.5 MiB less 4 KiB). */
  maxValueBytes?: number;
  /** Extra options for the etcd3 client (credentials, TLS). */
  client?: Partial<IOptions>;
}

/** etcd's options: the factory, its environment and the `shylock etcd` flags read them from here. */
export const ETCD_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'endpoints',
    flag: 'endpoints',
    env: 'ETC_HOSTS',
    type: 'string',
    value: '<urls>',
    default: 'http://127.0.0.1:2379',
    help: 'comma-separated client URLs',
    parse: (text) => parseList(text),
  },
  { key: 'prefix', flag: 'prefix', type: 'string', value: '<key>', help: 'mount only the keys under this prefix, e.g. /apps' },
  // The shylock command's --read-only covers every backend; ETC_READ_ONLY is etcd's own.
  { key: 'readOnly', env: 'ETC_READ_ONLY', type: 'boolean', help: 'refuse every change with EROFS', parse: parseBoolean },
  timeoutOption('a request'),
];

const NOW = () => Date.now();

/**
 * etcd v3 as files. A path is a key (`/config/app.json` → key `<prefix>/config/app.json`), the
 * value is the file's contents, and a directory is a key prefix. An empty directory is kept by a
 * marker key ending in `/` (`<prefix>/config/`), which listings hide. Writes are buffered per
 * open file and put in one request at flush/close; renames are one transaction.
 *
 * ```ts
 * const etcd = etcdBackend({ endpoints: 'http://127.0.0.1:2379', prefix: '/apps' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function etcdBackend(options: EtcdBackendOptions = {}): Backend {
  options = { ...optionsFrom(ETCD_OPTIONS, options as Record<string, unknown>), ...options };
  const endpointsOpt = options.endpoints ?? 'http://127.0.0.1:2379';
  const hosts = (Array.isArray(endpointsOpt) ? endpointsOpt : endpointsOpt.split(',')).map((h) => h.trim()).filter(Boolean);
  if (hosts.length === 0) throw new ShylockError('EINVAL', 'etcdBackend: give at least one endpoint (ETC_HOSTS)');
  for (const h of hosts) {
    if (!/^https?:\/\/[^/]+$/.test(h) && !/^[^/:]+:\d+$/.test(h)) {
      throw new ShylockError('EINVAL', `etcdBackend: "${h}" is not an endpoint such as http://127.0.0.1:2379`);
    }
  }
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxValue = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  for (const [k, v] of [
    ['timeoutMs', timeoutMs],
    ['maxValueBytes', maxValue],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new ShylockError('EINVAL', `etcdBackend: ${k} must be a positive number, got ${v}`);
  }
  const prefix = options.prefix === undefined || options.prefix === '/' ? '' : normalizePath(options.prefix, 'etcdBackend prefix');
  const readOnly = options.readOnly ?? false;

  let client: Etcd3 | undefined;
  const etcd = () =>
    (client ??= new Etcd3({
      hosts,
      // Fail fast and tell the caller: no retries, no circuit breaker that refuses for 5 s.
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
      ...options.client,
    }));
  const where = hosts.join(',');
  const guard = async <T>(op: string, path: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw etcdError(e, op, path, where);
    }
  };

  /**
   * Values fetched by `stat` in the last 200 ms, for the `open` that follows it (a FUSE lookup
   * stats a file and then opens it): one get per file read instead of two. Any change through
   * this backend drops them. Only values up to 64 KiB are kept.
   */
  const recent = new Map<string, { value: Buffer; until: number }>();
  const RECENT_MS = 200;
  const RECENT_MAX_VALUE = 64 * 1024;
  const remember = (path: string, value: Buffer) => {
    // Small values only, at most 1,000: a few MiB at worst, never values of 1.5 MiB each.
    if (value.length > RECENT_MAX_VALUE) return;
    if (recent.size >= 1000) recent.clear();
    recent.set(path, { value, until: performance.now() + RECENT_MS });
  };
  const fresh = (path: string): Buffer | undefined => {
    const hit = recent.get(path);
    recent.delete(path);
    return hit && hit.until > performance.now() ? hit.value : undefined;
  };
  /** Who listens to `watch`, and the one prefix watch they share (started with the first). */
  const listeners = new Set<(path: string | null) => void>();
  let watcher: Promise<Watcher> | undefined;
  const emit = (path: string | null) => {
    for (const l of listeners) l(path);
  };
  const changed = (key: Buffer) => {
    const path = key
      .toString()
      .slice(prefix.length)
      .replace(/(.)\/$/, '$1'); // a marker names its directory
    recent.delete(path);
    emit(path);
  };
  const startWatch = () => {
    const started = etcd()
      .watch()
      .prefix(prefix + '/')
      .create();
    watcher = started;
    started.then(
      (w) => {
        w.on('put', (kv) => changed(kv.key));
        w.on('delete', (kv) => changed(kv.key));
        // Events may be missed while the stream is down: every cache goes.
        w.on('disconnected', () => {
          recent.clear();
          emit(null);
        });
        w.on('connected', () => emit(null));
        w.on('error', () => undefined);
      },
      () => {
        if (watcher === started) watcher = undefined;
        emit(null);
      },
    );
  };
  const stopWatch = () => {
    const w = watcher;
    watcher = undefined;
    void w?.then((x) => x.cancel()).catch(() => undefined);
  };
  const keyOf = (path: string) => (path === '/' ? prefix + '/' : prefix + path);
  const dirPrefix = (path: string) => (path === '/' ? prefix + '/' : prefix + path + '/');
  const getValue = (path: string) => etcd().get(keyOf(path)).buffer();
  const hasChildren = async (path: string) => (await etcd().getAll().prefix(dirPrefix(path)).limit(1).keys()).length > 0;
  const kindOf = async (path: string): Promise<'file' | 'directory' | undefined> => {
    if (path === '/') return 'directory';
    if ((await getValue(path)) !== null) return 'file';
    return (await hasChildren(path)) ? 'directory' : undefined;
  };
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
  const needParentDir = async (op: string, path: string) => {
    const kind = await kindOf(parentOf(path));
    if (kind === 'file') throw new ShylockError('ENOTDIR', `${op} ${path}: a parent is a file`);
    if (!kind) throw new ShylockError('ENOENT', `${op} ${path}: the parent directory does not exist`);
  };
  const fileStat = (size: number): Stat => ({ type: 'file', size, mode: 0o644, mtimeMs: NOW() });
  const dirStat = (): Stat => ({ type: 'directory', size: 0, mode: 0o755, mtimeMs: NOW(), nlink: 2 });
  const tooBig = (path: string, size: number) =>
    new ShylockError(
      'EFBIG',
      `${path}: ${(size / 1048576).toFixed(2)} MiB is over the etcd limit of ${(maxValue / 1048576).toFixed(2)} MiB per file (the server's --max-request-bytes)`,
      { path },
    );
  const put = async (path: string, data: Uint8Array) => {
    recent.delete(path);
    if (data.length > maxValue) throw tooBig(path, data.length);
    await guard('put', path, () =>
      etcd()
        .put(keyOf(path))
        .value(Buffer.from(data.buffer, data.byteOffset, data.length))
        .exec(),
    );
  };

  const backend = defineBackend({
    name: 'etcd',
    capabilities: {
      ...FILE_TREE_CAPABILITIES,
    },
    stat: (path) =>
      guard('stat', path, async () => {
        if (path === '/') return dirStat();
        const value = await getValue(path);
        if (value !== null) {
          remember(path, value);
          // The value came anyway: it travels with its stat, and a mount opens it without a second get.
          return value.length <= STAT_CONTENT_MAX ? { ...fileStat(value.length), content: value } : fileStat(value.length);
        }
        if (await hasChildren(path)) return dirStat();
        throw new ShylockError('ENOENT', `stat ${path}: no such key or prefix in etcd`);
      }),
    list: (path) =>
      guard('list', path, async () => {
        const kind = await kindOf(path);
        if (kind === 'file') throw new ShylockError('ENOTDIR', `list ${path}: a key, not a directory`);
        if (!kind) throw new ShylockError('ENOENT', `list ${path}: no such key or prefix in etcd`);
        // One range request for the whole prefix.
        const all = await etcd().getAll().prefix(dirPrefix(path)).buffers();
        const start = dirPrefix(path).length;
        const entries = new Map<string, DirEntry>();
        for (const [key, value] of Object.entries(all)) {
          const rest = key.slice(start);
          if (rest === '') continue; // this directory's own marker
          const slash = rest.indexOf('/');
          const name = slash === -1 ? rest : rest.slice(0, slash);
          if (name === '' || entries.get(name)?.type === 'directory') continue;
          entries.set(
            name,
            slash === -1 ? { name, type: 'file', stat: fileStat(value.length) } : { name, type: 'directory', stat: dirStat() },
          );
        }
        return [...entries.values()];
      }),
    open: (path, flags) =>
      guard('open', path, async () => {
        if (path === '/') throw new ShylockError('EISDIR', 'open /: is a directory');
        return openValueFile({
          path,
          backend: 'etcd',
          flags,
          value: (flags.write || flags.truncate ? undefined : fresh(path)) ?? (await getValue(path)),
          isDirectory: () => hasChildren(path),
          checkParent: () => needParentDir('open', path),
          missing: 'no such key in etcd',
          maxSize: maxValue,
          limitHint: "the server's --max-request-bytes",
          commit: (data) => put(path, data),
        });
      }),
    mkdir: (path) =>
      guard('mkdir', path, async () => {
        recent.clear();
        if (await kindOf(path)) throw new ShylockError('EEXIST', `mkdir ${path}: it exists`);
        await needParentDir('mkdir', path);
        await etcd().put(dirPrefix(path)).value('').exec();
      }),
    rmdir: (path) =>
      guard('rmdir', path, async () => {
        recent.clear();
        if (path === '/') throw new ShylockError('EBUSY', 'rmdir /: the root cannot be removed');
        const kind = await kindOf(path);
        if (kind === 'file') throw new ShylockError('ENOTDIR', `rmdir ${path}: a key, not a directory`);
        if (!kind) throw new ShylockError('ENOENT', `rmdir ${path}: no such directory`);
        const keys = await etcd().getAll().prefix(dirPrefix(path)).limit(2).keys();
        if (keys.some((k) => k !== dirPrefix(path))) throw new ShylockError('ENOTEMPTY', `rmdir ${path}: not empty`);
        await etcd().delete().key(dirPrefix(path)).exec();
      }),
    unlink: (path) =>
      guard('unlink', path, async () => {
        recent.clear();
        const res = await etcd().delete().key(keyOf(path)).exec();
        if (Number(res.deleted) > 0) return;
        if (await hasChildren(path)) throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
        throw new ShylockError('ENOENT', `unlink ${path}: no such key`);
      }),
    truncate: (path, size) =>
      guard('truncate', path, async () => {
        recent.clear();
        if (size < 0) throw new ShylockError('EINVAL', `truncate ${path}: negative size`);
        const value = await getValue(path);
        if (value === null) {
          if (await hasChildren(path)) throw new ShylockError('EISDIR', `truncate ${path}: is a directory`);
          throw new ShylockError('ENOENT', `truncate ${path}: no such key`);
        }
        const next = new Uint8Array(size);
        next.set(value.subarray(0, Math.min(size, value.length)));
        await put(path, next);
      }),
    rename: (from, to) =>
      guard('rename', from, async () => {
        recent.clear();
        if (from === to) {
          if (!(await kindOf(from))) throw new ShylockError('ENOENT', `rename ${from}: no such key`);
          return;
        }
        const kind = await kindOf(from);
        if (!kind) throw new ShylockError('ENOENT', `rename ${from}: no such key or prefix`);
        const target = await kindOf(to);
        await needParentDir('rename', to);
        if (kind === 'file') {
          if (target === 'directory') throw new ShylockError('EISDIR', `rename ${from} → ${to}: the target is a directory`);
          const value = (await getValue(from))!;
          await etcd()
            .if(keyOf(from), 'Version', '>', 0)
            .then(etcd().put(keyOf(to)).value(value), etcd().delete().key(keyOf(from)))
            .commit();
          return;
        }
        if (to.startsWith(from + '/')) throw new ShylockError('EINVAL', `rename ${from} → ${to}: a directory cannot move into itself`);
        if (target === 'file') throw new ShylockError('ENOTDIR', `rename ${from} → ${to}: the target is a key`);
        if (target === 'directory') {
          const inside = await etcd().getAll().prefix(dirPrefix(to)).limit(2).keys();
          if (inside.some((k) => k !== dirPrefix(to))) throw new ShylockError('ENOTEMPTY', `rename ${from} → ${to}: not empty`);
        }
        const all = await etcd().getAll().prefix(dirPrefix(from)).buffers();
        const ops = [
          ...Object.entries(all).map(([k, v]) =>
            etcd()
              .put(dirPrefix(to) + k.slice(dirPrefix(from).length))
              .value(v),
          ),
          ...(Object.keys(all).length === 0 ? [etcd().put(dirPrefix(to)).value('')] : []),
          etcd().delete().prefix(dirPrefix(from)),
        ];
        // One transaction (etcd allows 128 operations in one by default).
        await etcd()
          .if(dirPrefix(from), 'Version', '>', -1)
          .then(...ops)
          .commit();
      }),
    watch(listener) {
      listeners.add(listener);
      if (!watcher) startWatch();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stopWatch();
      };
    },
    async close() {
      listeners.clear();
      stopWatch();
      client?.close();
      client = undefined;
    },
  });
  return readOnly ? readOnlyLayer(backend) : backend;
}
