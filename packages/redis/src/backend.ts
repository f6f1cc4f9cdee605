import { Redis } from 'ioredis';
import {
  dirStat,
  openValueFile,
  streamStat,
  defineBackend,
  FILE_TREE_CAPABILITIES,
  readOnly as readOnlyLayer,
  ShylockError,
  STAT_CONTENT_MAX,
  type Backend,
  type DirEntry,
  type FileHandle,
  type OpenFlags,
  type Stat,
} from '@shylock/core';
import { redisError } from './errors.js';
import { resolveOptions, type RedisBackendOptions } from './options.js';
import { createChannels, type Area } from './streams.js';

/** The directories at the root of a Redis mount. */
export const AREAS = ['kv', 'pubsub', 'streams', 'queues'] as const;
const STREAM_AREAS: ReadonlySet<string> = new Set(['pubsub', 'streams', 'queues']);
/** The Redis type each stream area lists. */
const AREA_TYPE = { streams: 'stream', queues: 'list' } as const;

/** `*`, `?`, `[`, `]` and `\` taken literally in a SCAN MATCH / PUBSUB CHANNELS pattern. */
const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');
/** A channel, stream or queue name as one path segment: `/` and `%` are percent-encoded. */
export const encodeName = (name: string) => name.replaceAll('%', '%25').replaceAll('/', '%2F');
export const decodeName = (segment: string) => segment.replace(/%2F/gi, '/').replaceAll('%25', '%');

const now = () => Date.now();
/**
 * A stat of a kv key fetches this much of its value in the same round trip: a value no longer
 * than this comes whole with its stat, so a mount opens it without a GET of its own; a longer
 * one costs the stat these bytes more. Longer values come only when the caller asks for the
 * content (StatOptions.content: the FUSE mount does while its lookups are mostly followed by
 * opens), so `ls -l` of a mount without attribute caching does not fetch every value.
 */
const HEAD_BYTES = 4096;
const fileStat = (size: number): Stat => ({ type: 'file', size, mode: 0o644, mtimeMs: now() });

type Place =
  | { area: 'root' }
  | { area: 'kv'; rest: string }
  | { area: Area; name?: string; deeper: boolean }
  | { area: 'unknown'; top: string };

/** Where a path points: the root, a kv path, or a channel/stream/queue. */
function place(path: string): Place {
  if (path === '/') return { area: 'root' };
  const slash = path.indexOf('/', 1);
  const top = slash === -1 ? path.slice(1) : path.slice(1, slash);
  const rest = slash === -1 ? '' : path.slice(slash + 1);
  if (top === 'kv') return { area: 'kv', rest };
  if (STREAM_AREAS.has(top)) {
    if (rest === '') return { area: top as Area, deeper: false };
    const cut = rest.indexOf('/');
    return { area: top as Area, name: decodeName(cut === -1 ? rest : rest.slice(0, cut)), deeper: cut !== -1 };
  }
  return { area: 'unknown', top };
}

/**
 * Redis as files. The root holds four directories:
 *
 * - `kv/` — string keys: `kv/app/config` is the key `<prefix>app/config`, its value the file's
 *   contents; a directory is a key prefix ending in `/` (an empty one is kept by a marker key
 *   `<prefix>app/` with an empty value). Listing is SCAN (never KEYS). Writes are buffered per
 *   open file and stored with one SET at flush/close.
 * - `pubsub/<channel>` — a stream: each line written is PUBLISHed; reading subscribes and follows.
 * - `streams/<key>` — a Redis stream: each line written is XADDed (field `data`); reading starts
 *   at the first entry, then follows.
 * - `queues/<key>` — a task queue on a list: each line written is RPUSHed; each read pops one
 *   task (BLPOP), so every task goes to exactly one reader.
 *
 * ```ts
 * const redis = redisBackend({ host: 'localhost:6379', prefix: 'app:' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function redisBackend(options: RedisBackendOptions = {}): Backend {
  const o = resolveOptions(options);
  const { prefix, where, maxValueBytes } = o;

  let main: Redis | undefined;
  let lastConnectionError: Error | undefined;
  const client = () => {
    if (!main) {
      main = new Redis(o.connection);
      // Each command reports its own failure; the connection's last error says why.
      main.on('error', (e: Error) => (lastConnectionError = e));
      main.on('ready', () => (lastConnectionError = undefined));
      main.defineCommand('delIfType', {
        numberOfKeys: 1,
        lua: `local t = redis.call('TYPE', KEYS[1]).ok
if t == ARGV[1] then return redis.call('DEL', KEYS[1]) end
if t == 'none' then return 0 end
return -1`,
      });
    }
    return main;
  };
  /** Deletes a key only when it holds `type`: 1 deleted, 0 missing, -1 another type. */
  const delIfType = (key: string, type: string) =>
    (client() as unknown as { delIfType(k: string, t: string): Promise<number> }).delIfType(key, type);
  const guard = async <T>(op: string, path: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw redisError(e, op, path, where, lastConnectionError);
    }
  };
  /** Every key matching `pattern` (and of `type`), SCAN by SCAN. */
  const scan = async (pattern: string, type: string, each: (key: string) => boolean | void) => {
    let cursor = '0';
    do {
      const [next, keys] = await client().scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', type);
      cursor = next;
      for (const k of keys) if (each(k) === false) return;
    } while (cursor !== '0');
  };

  // ---- kv/: string keys ----
  const kvKey = (rest: string) => prefix + rest;
  /** The key prefix of the directory `rest` ('' = kv/ itself); also its marker key. */
  const kvDir = (rest: string) => (rest === '' ? prefix : prefix + rest + '/');
  const hasChild = async (rest: string, except?: string) => {
    let found = false;
    await scan(globEscape(kvDir(rest)) + '*', 'string', (k) => {
      if (k === except) return;
      found = true;
      return false;
    });
    return found;
  };
  type Kind = { kind: 'file'; size: number; content?: Buffer } | { kind: 'directory' } | { kind: 'other'; type: string } | { kind: 'none' };
  /**
   * What `rest` is. With `head`, a string's first `head` bytes come along in the same round trip:
   * the whole value when it is that small (see Stat.content).
   */
  const kvKind = async (rest: string, head = 0): Promise<Kind> => {
    if (rest === '') return { kind: 'directory' };
    const c = client();
    const [type, size, marker, start] = await Promise.all([
      c.type(kvKey(rest)),
      c.strlen(kvKey(rest)).catch(() => 0),
      c.exists(kvDir(rest)),
      head > 0 ? c.getrangeBuffer(kvKey(rest), 0, head - 1).catch(() => null) : null,
    ]);
    if (type === 'string') return start && start.length === size ? { kind: 'file', size, content: start } : { kind: 'file', size };
    if (marker || (await hasChild(rest))) return { kind: 'directory' };
    return type === 'none' ? { kind: 'none' } : { kind: 'other', type };
  };
  const parentRest = (rest: string) => rest.slice(0, Math.max(0, rest.lastIndexOf('/')));
  const needParentDir = async (op: string, path: string, rest: string) => {
    const parent = await kvKind(parentRest(rest));
    if (parent.kind === 'file') throw new ShylockError('ENOTDIR', `${op} ${path}: a parent is a file`);
    if (parent.kind !== 'directory') throw new ShylockError('ENOENT', `${op} ${path}: the parent directory does not exist`);
  };
  const hidden = (op: string, path: string, type: string) =>
    new ShylockError(
      'EEXIST',
      `${op} ${path}: the key holds a Redis ${type}, not a string (kv/ shows strings; lists are under queues/, streams under streams/)`,
    );
  const tooBig = (path: string, size: number) =>
    new ShylockError(
      'EFBIG',
      `${path}: ${(size / 1048576).toFixed(2)} MiB is over the Redis limit of ${(maxValueBytes / 1048576).toFixed(2)} MiB per value`,
      { path },
    );
  const put = (path: string, rest: string, data: Uint8Array) =>
    guard('put', path, async () => {
      if (data.length > maxValueBytes) throw tooBig(path, data.length);
      await client().set(kvKey(rest), Buffer.from(data.buffer, data.byteOffset, data.length));
    });
  const kvList = async (path: string, rest: string): Promise<DirEntry[]> => {
    const kind = await kvKind(rest);
    if (kind.kind === 'file') throw new ShylockError('ENOTDIR', `list ${path}: a key, not a directory`);
    if (kind.kind !== 'directory') throw new ShylockError('ENOENT', `list ${path}: no such key or prefix in Redis`);
    const start = kvDir(rest).length;
    const dirs = new Set<string>();
    const files = new Map<string, string>();
    await scan(globEscape(kvDir(rest)) + '*', 'string', (key) => {
      const tail = key.slice(start);
      const slash = tail.indexOf('/');
      const name = slash === -1 ? tail : tail.slice(0, slash);
      if (name === '') return; // this directory's marker, or a key with an empty segment
      if (slash === -1) files.set(name, key);
      else dirs.add(name);
    });
    const names = [...files.keys()].filter((n) => !dirs.has(n));
    const c = client();
    const sizes = await Promise.all(names.map((n) => c.strlen(files.get(n)!)));
    return [
      ...[...dirs].map((name): DirEntry => ({ name, type: 'directory', stat: dirStat() })),
      ...names.map((name, i): DirEntry => ({ name, type: 'file', stat: fileStat(sizes[i]!) })),
    ];
  };
  const kvOpen = async (path: string, rest: string, flags: OpenFlags): Promise<FileHandle> => {
    if (rest === '') throw new ShylockError('EISDIR', `open ${path}: is a directory`);
    let value: Buffer | null;
    try {
      value = await client().getBuffer(kvKey(rest));
    } catch (e) {
      if (!/WRONGTYPE/.test((e as Error).message)) throw e;
      const type = await client().type(kvKey(rest));
      if (flags.create) throw hidden('open', path, type);
      throw new ShylockError('ENOENT', `open ${path}: the key holds a Redis ${type}, not a string`);
    }
    return openValueFile({
      path,
      backend: 'redis',
      flags,
      value,
      isDirectory: async () => (await kvKind(rest)).kind === 'directory',
      checkParent: () => needParentDir('open', path, rest),
      missing: 'no such key in Redis',
      maxSize: maxValueBytes,
      limitHint: 'proto-max-bulk-len',
      commit: (data) => put(path, rest, data),
    });
  };
  const kvRename = async (from: string, fromRest: string, to: string, toRest: string) => {
    const kind = await kvKind(fromRest);
    if (kind.kind !== 'file' && kind.kind !== 'directory') throw new ShylockError('ENOENT', `rename ${from}: no such key or prefix`);
    if (fromRest === toRest) return;
    if (fromRest === '' || toRest === '') throw new ShylockError('EBUSY', `rename ${from} → ${to}: kv/ itself cannot move`);
    const target = await kvKind(toRest);
    await needParentDir('rename', to, toRest);
    const c = client();
    if (kind.kind === 'file') {
      if (target.kind === 'directory') throw new ShylockError('EISDIR', `rename ${from} → ${to}: the target is a directory`);
      if (target.kind === 'other') throw hidden('rename', to, target.type);
      await c.rename(kvKey(fromRest), kvKey(toRest));
      return;
    }
    if (toRest.startsWith(fromRest + '/')) throw new ShylockError('EINVAL', `rename ${from} → ${to}: a directory cannot move into itself`);
    if (target.kind === 'file') throw new ShylockError('ENOTDIR', `rename ${from} → ${to}: the target is a key`);
    if (target.kind === 'other') throw hidden('rename', to, target.type);
    if (target.kind === 'directory' && (await hasChild(toRest, kvDir(toRest)))) {
      throw new ShylockError('ENOTEMPTY', `rename ${from} → ${to}: not empty`);
    }
    const keys: string[] = [];
    await scan(globEscape(kvDir(fromRest)) + '*', 'string', (k) => void keys.push(k));
    const base = kvDir(fromRest).length;
    // One MULTI: every key moves, or none does.
    const tx = c.multi();
    for (const k of keys) tx.rename(k, kvDir(toRest) + k.slice(base));
    if (!keys.includes(kvDir(fromRest))) tx.set(kvDir(toRest), ''); // keep the moved directory
    const results = (await tx.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  };

  // ---- pubsub/, streams/, queues/ ----
  const channels = createChannels({ client, prefix, where, backlog: o.backlog, maxMessageBytes: maxValueBytes, timeoutMs: o.timeoutMs });
  const areaList = async (area: Area): Promise<DirEntry[]> => {
    const names = new Set<string>();
    if (area === 'pubsub') {
      const active = (await client().pubsub('CHANNELS', globEscape(prefix) + '*')) as string[];
      for (const ch of active) names.add(ch.slice(prefix.length));
      for (const ch of channels.subscribed()) names.add(ch);
    } else {
      await scan(globEscape(prefix) + '*', AREA_TYPE[area], (k) => void names.add(k.slice(prefix.length)));
    }
    return [...names].filter(Boolean).map((n) => ({ name: encodeName(n), type: 'stream', stat: streamStat() }));
  };
  const notHere = (op: string, path: string, area: Area) =>
    new ShylockError('EPERM', `${op} ${path}: ${area}/ holds ${area === 'pubsub' ? 'channels' : area}, not directories`);
  const noRoot = (op: string, path: string) =>
    new ShylockError('EPERM', `${op} ${path}: the root holds only ${AREAS.map((a) => a + '/').join(', ')}`);

  const backend = defineBackend({
    name: 'redis',
    capabilities: {
      ...FILE_TREE_CAPABILITIES,
      streams: true,
    },
    stat: (path, o) =>
      guard('stat', path, async () => {
        const p = place(path);
        if (p.area === 'root') return dirStat();
        if (p.area === 'unknown') throw new ShylockError('ENOENT', `stat ${path}: the root holds only ${AREAS.join(', ')}`);
        if (p.area === 'kv') {
          // Asked for the content (a reader is about to open it), up to STAT_CONTENT_MAX of the
          // value come in the same round trip, at most that many bytes wasted on a longer one.
          const kind = await kvKind(p.rest, o?.content ? STAT_CONTENT_MAX : HEAD_BYTES);
          if (kind.kind === 'file') return kind.content ? { ...fileStat(kind.size), content: kind.content } : fileStat(kind.size);
          if (kind.kind === 'directory') return dirStat();
          throw new ShylockError('ENOENT', `stat ${path}: no such key or prefix in Redis`);
        }
        if (p.deeper) throw new ShylockError('ENOTDIR', `stat ${path}: ${p.area}/${encodeName(p.name!)} is a stream`);
        // Every name exists: a channel, stream or queue comes into being with its first message.
        return p.name === undefined ? dirStat() : streamStat();
      }),
    list: (path) =>
      guard('list', path, async () => {
        const p = place(path);
        if (p.area === 'root') return AREAS.map((name): DirEntry => ({ name, type: 'directory', stat: dirStat() }));
        if (p.area === 'unknown') throw new ShylockError('ENOENT', `list ${path}: the root holds only ${AREAS.join(', ')}`);
        if (p.area === 'kv') return kvList(path, p.rest);
        if (p.name !== undefined) throw new ShylockError('ENOTDIR', `list ${path}: a stream, not a directory`);
        return areaList(p.area);
      }),
    open: (path, flags) =>
      guard('open', path, async () => {
        const p = place(path);
        if (p.area === 'root') throw new ShylockError('EISDIR', `open ${path}: is a directory`);
        if (p.area === 'unknown') throw noRoot('open', path);
        if (p.area === 'kv') return kvOpen(path, p.rest, flags);
        if (p.name === undefined) throw new ShylockError('EISDIR', `open ${path}: is a directory`);
        if (p.deeper) throw new ShylockError('ENOTDIR', `open ${path}: ${p.area}/${encodeName(p.name)} is a stream`);
        return channels.open(p.area, p.name, path, flags);
      }),
    mkdir: (path) =>
      guard('mkdir', path, async () => {
        const p = place(path);
        if (p.area === 'root' || p.area === 'unknown') {
          if (p.area === 'root' || AREAS.includes(path.slice(1) as never)) throw new ShylockError('EEXIST', `mkdir ${path}: it exists`);
          throw noRoot('mkdir', path);
        }
        if (p.area !== 'kv') {
          if (p.name === undefined) throw new ShylockError('EEXIST', `mkdir ${path}: it exists`);
          throw notHere('mkdir', path, p.area);
        }
        if ((await kvKind(p.rest)).kind !== 'none') throw new ShylockError('EEXIST', `mkdir ${path}: it exists`);
        await needParentDir('mkdir', path, p.rest);
        await client().set(kvDir(p.rest), '');
      }),
    rmdir: (path) =>
      guard('rmdir', path, async () => {
        const p = place(path);
        if (p.area !== 'kv' || p.rest === '') {
          if (p.area === 'unknown') throw new ShylockError('ENOENT', `rmdir ${path}: no such directory`);
          if (p.area !== 'root' && p.area !== 'kv' && p.name !== undefined) throw new ShylockError('ENOTDIR', `rmdir ${path}: a stream`);
          throw new ShylockError('EBUSY', `rmdir ${path}: the fixed directories of a Redis mount cannot be removed`);
        }
        const kind = await kvKind(p.rest);
        if (kind.kind === 'file') throw new ShylockError('ENOTDIR', `rmdir ${path}: a key, not a directory`);
        if (kind.kind !== 'directory') throw new ShylockError('ENOENT', `rmdir ${path}: no such directory`);
        if (await hasChild(p.rest, kvDir(p.rest))) throw new ShylockError('ENOTEMPTY', `rmdir ${path}: not empty`);
        await client().del(kvDir(p.rest));
      }),
    unlink: (path) =>
      guard('unlink', path, async () => {
        const p = place(path);
        if (p.area === 'root' || p.area === 'unknown') throw new ShylockError(p.area === 'root' ? 'EISDIR' : 'ENOENT', `unlink ${path}`);
        if (p.area === 'kv') {
          if (p.rest === '') throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
          const deleted = await delIfType(kvKey(p.rest), 'string');
          if (deleted === 1) return;
          if (deleted === 0 && (await kvKind(p.rest)).kind === 'directory')
            throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
          throw new ShylockError('ENOENT', `unlink ${path}: no such key`);
        }
        if (p.name === undefined) throw new ShylockError('EISDIR', `unlink ${path}: is a directory`);
        if (p.area === 'pubsub') throw new ShylockError('EPERM', `unlink ${path}: a channel stores nothing, so there is nothing to remove`);
        if ((await delIfType(prefix + p.name, AREA_TYPE[p.area])) !== 1) {
          throw new ShylockError('ENOENT', `unlink ${path}: no ${AREA_TYPE[p.area]} named ${p.name} in Redis`);
        }
      }),
    truncate: (path, size) =>
      guard('truncate', path, async () => {
        const p = place(path);
        if (size < 0) throw new ShylockError('EINVAL', `truncate ${path}: negative size`);
        if (p.area !== 'kv') {
          if (p.area === 'root' || p.area === 'unknown' || p.name === undefined)
            throw new ShylockError('EISDIR', `truncate ${path}: is a directory`);
          return; // `echo x > stream` truncates first: a stream has nothing to empty
        }
        const value = p.rest === '' ? null : await client().getBuffer(kvKey(p.rest));
        if (value === null) {
          if ((await kvKind(p.rest)).kind === 'directory') throw new ShylockError('EISDIR', `truncate ${path}: is a directory`);
          throw new ShylockError('ENOENT', `truncate ${path}: no such key`);
        }
        if (size > maxValueBytes) throw tooBig(path, size);
        const next = Buffer.alloc(size);
        value.copy(next, 0, 0, Math.min(size, value.length));
        await put(path, p.rest, next);
      }),
    rename: (from, to) =>
      guard('rename', from, async () => {
        const a = place(from);
        const b = place(to);
        if (a.area !== b.area) throw new ShylockError('EXDEV', `rename ${from} → ${to}: across Redis areas`);
        if (a.area === 'kv' && b.area === 'kv') return kvRename(from, a.rest, to, b.rest);
        if (a.area === 'root' || a.area === 'unknown' || b.area === 'root' || b.area === 'unknown') {
          throw new ShylockError('EBUSY', `rename ${from} → ${to}: the fixed directories cannot move`);
        }
        if (a.area === 'kv' || b.area === 'kv') return; // unreachable: same area
        if (a.name === undefined || b.name === undefined || a.deeper || b.deeper) {
          throw new ShylockError('EBUSY', `rename ${from} → ${to}: the fixed directories cannot move`);
        }
        if (a.area === 'pubsub') throw new ShylockError('EPERM', `rename ${from}: a channel cannot be renamed`);
        if ((await client().type(prefix + a.name)) !== AREA_TYPE[a.area])
          throw new ShylockError('ENOENT', `rename ${from}: no such ${AREA_TYPE[a.area]}`);
        await client().rename(prefix + a.name, prefix + b.name);
      }),
    async close() {
      await channels.close();
      const c = main;
      main = undefined;
      c?.disconnect();
    },
  });
  return o.readOnly ? readOnlyLayer(backend) : backend;
}
