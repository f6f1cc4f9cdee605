import zookeeper, { type Client, type Event, type Stat as ZkStat } from 'node-zookeeper-client';
import {
  createBufferedHandle,
  defineBackend,
  dirStat,
  FILE_TREE_CAPABILITIES,
  normalizePath,
  optionsFrom,
  parseList,
  readOnly as readOnlyLayer,
  ShylockError,
  STAT_CONTENT_MAX,
  type Backend,
  type DirEntry,
  type FileHandle,
  type Stat,
} from '@shylock/core';
import { zkError } from './errors.js';
import { ZOOKEEPER_OPTIONS, type ZooKeeperBackendOptions } from './options.js';

/**
 * The largest data a znode takes through the mount: ZooKeeper refuses a request over
 * jute.maxbuffer (1 MiB, 1,048,575 bytes by default, with the path and the header), and drops
 * the connection for it. 4 KiB is left for the rest of the request.
 */
export const ZK_MAX_DATA = (1 << 20) - 4096;
/** The file that holds a directory-znode's own data. */
export const DATA_FILE = '.data';
/** Directories through which a znode is created ephemeral, sequential, or both. */
export const CREATE_MODES: Readonly<Record<string, number>> = Object.freeze({
  '.ephemeral': zookeeper.CreateMode.EPHEMERAL,
  '.sequential': zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
  '.ephemeral-sequential': zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
});
/** Data kept with a watched znode's stat, at most this big each (larger data is fetched per open). */
const CACHE_DATA_MAX = 64 * 1024;
/** A directory is read ahead (see readAhead) only if it has at most this many children. */
const READ_AHEAD_MAX = 4096;
const READ_AHEAD_IN_FLIGHT = 32;
const EPHEMERAL_MODES = new Set([zookeeper.CreateMode.EPHEMERAL, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL]);
const SEQUENTIAL_MODES = new Set([zookeeper.CreateMode.PERSISTENT_SEQUENTIAL, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL]);

/** A znode as fetched: its stat, and its data (`undefined` when the znode's data is null). */
interface Node {
  stat: ZkStat;
  data: Buffer | undefined;
}

type Place =
  | { kind: 'node'; zk: string }
  | { kind: 'data'; zk: string }
  | { kind: 'modes'; zk: string }
  | { kind: 'create'; zk: string; mode: number };

const long = (b: Buffer | undefined) => (b && b.length === 8 ? Number(b.readBigInt64BE(0)) : 0);
const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parentOf = (zk: string) => zk.slice(0, zk.lastIndexOf('/')) || '/';
/** A znode is a directory when it has children, or when its data is null (made by mkdir or `create` without data). */
const isDir = (n: Node) => n.stat.numChildren > 0 || n.data === undefined;

/**
 * ZooKeeper as files. A znode whose data is not null and that has no children is a file whose
 * contents are its data; a znode with children, or with null data (what `mkdir` makes, and
 * `create /path` without data elsewhere), is a directory, whose own data (a znode may have both)
 * is the file `.data` in it. Writes are buffered per open file and set at flush/close only if the
 * znode is still the version that was opened: another client's change in between fails the
 * close with EIO, never overwritten. Creating a file under `.ephemeral/`, `.sequential/` or
 * `.ephemeral-sequential/` of a directory makes an ephemeral (gone when this mount's session
 * ends) or sequential znode. Watches keep the cached stats and listings fresh.
 *
 * ```ts
 * const zk = zookeeperBackend({ connect: '127.0.0.1:2181', prefix: '/apps' });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function zookeeperBackend(options: ZooKeeperBackendOptions = {}): Backend {
  options = { ...optionsFrom(ZOOKEEPER_OPTIONS, options as unknown as Record<string, unknown>), ...options } as ZooKeeperBackendOptions;
  const hosts = (typeof options.connect === 'string' ? parseList(options.connect) : (options.connect ?? ['127.0.0.1:2181'])).map((h) =>
    h.trim(),
  );
  if (hosts.length === 0) throw new ShylockError('EINVAL', 'zookeeper: --connect names no server (e.g. 127.0.0.1:2181)');
  for (const h of hosts) {
    if (!/^[^\s:/,]+:\d{1,5}$/.test(h))
      throw new ShylockError('EINVAL', `zookeeper: --connect: "${h}" is not host:port (e.g. 127.0.0.1:2181)`);
  }
  let prefix = '';
  if (options.prefix !== undefined && options.prefix !== '' && options.prefix !== '/') {
    if (!options.prefix.startsWith('/')) throw new ShylockError('EINVAL', `zookeeper: --prefix "${options.prefix}" must start with /`);
    prefix = normalizePath(options.prefix, 'zookeeper --prefix');
  }
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const where = `ZooKeeper at ${hosts.join(',')}`;

  let client: Client | undefined;
  let connected = false;
  let closed = false;
  /** Bumped when a session expires: ephemeral znodes of the old one are gone. */
  let generation = 0;
  const listeners = new Set<(path: string | null) => void>();
  /** Znodes with a data watch set, and what was fetched of them (kept while the watch is set). */
  const nodes = new Map<string, Node>();
  const dataWatched = new Set<string>();
  /** Directories with a child watch set, and their children. */
  const children = new Map<string, string[]>();
  const childWatched = new Set<string>();

  const mountPathOf = (zk: string): string | null => {
    if (prefix === '') return zk;
    if (zk === prefix) return '/';
    return zk.startsWith(`${prefix}/`) ? zk.slice(prefix.length) : null;
  };
  const emit = (zk: string | null) => {
    const path = zk === null ? null : mountPathOf(zk);
    if (zk !== null && path === null) return;
    for (const l of listeners) l(path);
  };
  /** Changes may have been missed (a lost connection): nothing cached holds. */
  const forgetAll = () => {
    nodes.clear();
    dataWatched.clear();
    children.clear();
    childWatched.clear();
    readAheadDone.clear();
    lastMiss = '';
    emit(null);
  };
  const onEvent = (event: Event) => {
    const zk = event.getPath();
    if (event.getType() === zookeeper.Event.NODE_CHILDREN_CHANGED) {
      children.delete(zk);
      childWatched.delete(zk);
      readAheadDone.delete(zk);
    } else {
      nodes.delete(zk);
      dataWatched.delete(zk);
      if (event.getType() === zookeeper.Event.NODE_DELETED) {
        children.delete(zk);
        childWatched.delete(zk);
      }
    }
    emit(zk);
  };
  /** Our own change: what was cached of these znodes goes now (their watches say so later too). */
  const changed = (...zks: string[]) => {
    for (const zk of zks) {
      nodes.delete(zk);
      children.delete(zk);
    }
  };

  const connect = (): Client => {
    const c = zookeeper.createClient(hosts.join(','), { sessionTimeout, spinDelay: 500, retries: 0 });
    c.on('state', (state: { name?: string }) => {
      if (c !== client) return;
      const name = String(state?.name ?? state);
      if (name === 'SYNC_CONNECTED' || name === 'CONNECTED_READ_ONLY') connected = true;
      else if (name === 'DISCONNECTED') {
        connected = false;
        forgetAll();
      } else if (name === 'EXPIRED') {
        // A new session: the old one's ephemeral znodes and watches are gone.
        connected = false;
        generation++;
        forgetAll();
        client = undefined;
        c.close();
      }
    });
    c.connect();
    client = c;
    return c;
  };
  const zk = () => client ?? connect();

  /** One request, with its answer or the error it deserves within timeoutMs. */
  const call = <T extends unknown[]>(
    op: string,
    path: string,
    run: (c: Client, done: (error: unknown, ...results: unknown[]) => void) => void,
  ) =>
    new Promise<T>((resolve, reject) => {
      if (closed)
        return reject(new ShylockError('EIO', `${op} ${path}: the ZooKeeper backend is closed`, { op, path, backend: 'zookeeper' }));
      let finished = false;
      const timer = setTimeout(() => {
        finished = true;
        reject(
          connected
            ? new ShylockError('ETIMEDOUT', `${op} ${path}: ${where} did not answer within ${timeoutMs} ms (--timeout)`, {
                op,
                path,
                backend: 'zookeeper',
                retryable: true,
              })
            : new ShylockError(
                'EIO',
                `${op} ${path}: ${where} is unreachable (no connection for ${timeoutMs} ms; is it running? --connect)`,
                {
                  op,
                  path,
                  backend: 'zookeeper',
                  retryable: true,
                },
              ),
        );
      }, timeoutMs);
      try {
        run(zk(), (error, ...results) => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          if (error) reject(zkError(error, op, path, where));
          else resolve(results as T);
        });
      } catch (e) {
        // The client checks paths before sending (characters ZooKeeper does not take).
        clearTimeout(timer);
        reject(new ShylockError('EINVAL', `${op} ${path}: ZooKeeper does not take this path (${(e as Error).message})`, { op, path }));
      }
    });

  /** Requests for znodes under way: a second ask for one joins the first. */
  const inflight = new Map<string, Promise<Node | undefined>>();
  /** The directory of the last znode fetched uncached, and the directories read ahead. */
  let lastMiss = '';
  const readAheadDone = new Set<string>();

  /** The znode, fetched with its data (watched, and kept while the watch is set); undefined if none. */
  const fetchNow = async (op: string, path: string, at: string): Promise<Node | undefined> => {
    const watch = !dataWatched.has(at);
    try {
      const [data, stat] = await call<[Buffer | undefined, ZkStat]>(op, path, (c, done) =>
        watch ? c.getData(at, onEvent, done) : c.getData(at, done),
      );
      const node = { stat, data };
      if (watch) dataWatched.add(at);
      if ((data?.length ?? 0) <= CACHE_DATA_MAX) nodes.set(at, node);
      return node;
    } catch (e) {
      if ((e as ShylockError).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  /**
   * The znode, from the cache, from a request already under way, or fetched now. A second
   * uncached znode in a row from one directory reads that directory ahead (`ahead`).
   */
  const fetch = (op: string, path: string, at: string, ahead = true): Promise<Node | undefined> => {
    const hit = nodes.get(at);
    if (hit) return Promise.resolve(hit);
    const pending = inflight.get(at);
    // A failed request made for someone else is made again, so that the error names this call.
    if (pending) return pending.catch(() => fetchNow(op, path, at));
    if (ahead) readAhead(at);
    const request = fetchNow(op, path, at).finally(() => inflight.delete(at));
    inflight.set(at, request);
    return request;
  };
  /**
   * A program reading znodes of one directory one by one (by name, without listing it) waits a
   * round trip for each. After the second uncached znode in a row from one directory, the rest
   * of it (up to READ_AHEAD_MAX children) is fetched in the background, READ_AHEAD_IN_FLIGHT
   * requests at a time, in name order from the one asked for: the reads after it find their
   * znodes cached (and watched, so they stay fresh).
   */
  const readAhead = (at: string) => {
    const dir = parentOf(at);
    if (dir !== lastMiss) {
      lastMiss = dir;
      return;
    }
    if (readAheadDone.has(dir)) return;
    readAheadDone.add(dir);
    void (async () => {
      const names = await childrenOf('read-ahead', dir, dir);
      if (names.length > READ_AHEAD_MAX) return;
      const sorted = [...names].sort();
      const from = sorted.findIndex((name) => join(dir, name) > at);
      const order = from < 0 ? sorted : [...sorted.slice(from), ...sorted.slice(0, from)];
      const todo = order.map((name) => join(dir, name));
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(READ_AHEAD_IN_FLIGHT, todo.length) }, async () => {
          while (next < todo.length && !closed && connected) await fetch('read-ahead', dir, todo[next++]!, false);
        }),
      );
    })().catch(() => {
      // Only a guess: the reads that need these znodes fetch them and report what goes wrong.
    });
  };
  const childrenOf = async (op: string, path: string, at: string): Promise<string[]> => {
    const hit = children.get(at);
    if (hit) return hit;
    const watch = !childWatched.has(at);
    const [names] = await call<[string[]]>(op, path, (c, done) => (watch ? c.getChildren(at, onEvent, done) : c.getChildren(at, done)));
    if (watch) childWatched.add(at);
    children.set(at, names);
    return names;
  };

  const zkPath = (path: string) => (path === '/' ? prefix || '/' : prefix + path);
  const place = (path: string): Place => {
    if (path === '/') return { kind: 'node', zk: zkPath('/') };
    const at = path.lastIndexOf('/');
    const name = path.slice(at + 1);
    const parent = path.slice(0, at) || '/';
    if (name === DATA_FILE) return { kind: 'data', zk: zkPath(parent) };
    if (name in CREATE_MODES) return { kind: 'modes', zk: zkPath(parent) };
    const parentName = parent.slice(parent.lastIndexOf('/') + 1);
    if (parentName in CREATE_MODES) {
      const grand = parent.slice(0, parent.lastIndexOf('/')) || '/';
      return { kind: 'create', zk: join(zkPath(grand), name), mode: CREATE_MODES[parentName]! };
    }
    return { kind: 'node', zk: zkPath(path) };
  };
  const fail = (code: ConstructorParameters<typeof ShylockError>[0], op: string, path: string, why: string) =>
    new ShylockError(code, `${op} ${path}: ${why}`, { op, path, backend: 'zookeeper' });
  /** The znode at `at`, which must be a directory. */
  const needDir = async (op: string, path: string, at: string): Promise<Node> => {
    const node = await fetch(op, path, at);
    if (!node) {
      if (at === (prefix || '/') && prefix !== '')
        throw fail('ENOENT', op, path, `the prefix ${prefix} does not exist in ${where} (create it, or mount without --prefix)`);
      throw fail('ENOENT', op, path, `no such directory in ${where}`);
    }
    if (!isDir(node)) throw fail('ENOTDIR', op, path, 'a file (a znode with data and no children), not a directory');
    return node;
  };
  const statOf = (n: Node, withContent: boolean): Stat => {
    const times = { mtimeMs: long(n.stat.mtime), ctimeMs: long(n.stat.mtime), birthtimeMs: long(n.stat.ctime) };
    if (isDir(n)) return { ...dirStat(times.mtimeMs), ...times };
    return {
      type: 'file',
      size: n.stat.dataLength,
      mode: 0o644,
      ...times,
      ...(withContent && n.data && n.data.length <= STAT_CONTENT_MAX ? { content: n.data } : {}),
    };
  };
  const dataStat = (n: Node): Stat => ({
    type: 'file',
    size: n.stat.dataLength,
    mode: 0o644,
    mtimeMs: long(n.stat.mtime),
    ...(n.data ? { content: n.data } : {}),
  });
  const bytes = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.length);

  /** A buffered handle whose commit sets the znode's data only at the version it holds. */
  const valueHandle = (path: string, at: string, flags: Parameters<Backend['open']>[1], node: Node, ephemeral: boolean): FileHandle => {
    let version = node.stat.version;
    const born = generation;
    return createBufferedHandle({
      path,
      backend: 'zookeeper',
      flags,
      ...(node.data ? { initial: node.data } : {}),
      maxSize: ZK_MAX_DATA,
      limitHint: "ZooKeeper's jute.maxbuffer, 1 MiB, less room for the request",
      stat: { type: 'file', mode: 0o644, mtimeMs: long(node.stat.mtime) },
      commit: async (data) => {
        if (ephemeral && born !== generation) {
          throw fail(
            'EIO',
            'write',
            path,
            'the session that made this ephemeral znode ended, and the znode with it; the data was not stored',
          );
        }
        const [stat] = await call<[ZkStat]>('write', path, (c, done) => c.setData(at, bytes(data), version, done));
        version = stat.version;
        changed(at);
      },
    });
  };

  const backend = defineBackend({
    name: 'zookeeper',
    capabilities: { ...FILE_TREE_CAPABILITIES },
    stat: (path) =>
      (async (): Promise<Stat> => {
        const p = place(path);
        switch (p.kind) {
          case 'node':
          case 'create': {
            if (path === '/') return statOf(await needDir('stat', path, p.zk), false);
            const node = await fetch('stat', path, p.zk);
            if (!node) throw fail('ENOENT', 'stat', path, `no such znode in ${where}`);
            return statOf(node, true);
          }
          case 'data':
            return dataStat(await needDir('stat', path, p.zk));
          case 'modes':
            await needDir('stat', path, p.zk);
            return dirStat();
        }
      })(),
    list: (path) =>
      (async (): Promise<DirEntry[]> => {
        const p = place(path);
        if (p.kind === 'modes') {
          await needDir('list', path, p.zk);
          return [];
        }
        if (p.kind === 'data') throw fail('ENOTDIR', 'list', path, 'the data of a directory-znode, a file');
        const dir = await needDir('list', path, p.zk);
        const names = await childrenOf('list', path, p.zk);
        // One getData per child, all in flight at once: their types, sizes and times.
        const entries = await Promise.all(
          names.map(async (name): Promise<DirEntry | undefined> => {
            const node = await fetch('list', path, join(p.zk, name), false);
            if (!node) return undefined; // deleted meanwhile
            const stat = statOf(node, false);
            return { name, type: stat.type, stat };
          }),
        );
        const out = entries.filter((e): e is DirEntry => e !== undefined && e.name !== DATA_FILE);
        if (dir.data && dir.data.length > 0) {
          const { content: _, ...stat } = dataStat(dir);
          out.push({ name: DATA_FILE, type: 'file', stat });
        }
        return out;
      })(),
    open: (path, flags) =>
      (async (): Promise<FileHandle> => {
        const p = place(path);
        if (p.kind === 'modes') throw fail('EISDIR', 'open', path, 'is a directory (create files in it)');
        if (p.kind === 'data') {
          const dir = await needDir('open', path, p.zk);
          if (flags.create && flags.exclusive) throw fail('EEXIST', 'open', path, 'it exists (every directory-znode has its data)');
          return valueHandle(path, p.zk, flags, dir, false);
        }
        if (path === '/') throw fail('EISDIR', 'open', path, 'is a directory');
        const mode = p.kind === 'create' ? p.mode : zookeeper.CreateMode.PERSISTENT;
        const sequential = SEQUENTIAL_MODES.has(mode);
        if (sequential && !flags.write) {
          throw fail(
            'ENOENT',
            'open',
            path,
            'a name under .sequential/ makes a new numbered znode each time it is opened for writing; read the znode by its numbered name',
          );
        }
        // Every write-open of a sequential name makes the next numbered znode, even where the
        // kernel kept the name from the last one.
        let node = sequential ? undefined : await fetch('open', path, p.zk);
        let at = p.zk;
        if (node) {
          if (isDir(node)) throw fail('EISDIR', 'open', path, `is a directory (its own data is ${path}/${DATA_FILE})`);
          if (flags.create && flags.exclusive) throw fail('EEXIST', 'open', path, 'it exists');
        } else {
          if (!flags.create && !sequential) throw fail('ENOENT', 'open', path, `no such znode in ${where}`);
          await needDir('open', path, parentOf(p.zk));
          // Made now, empty (not null: a file), so that it exists while open; written at close.
          [at] = await call<[string]>('open', path, (c, done) => c.create(p.zk, Buffer.alloc(0), mode, done));
          changed(parentOf(p.zk));
          node = {
            stat: { version: 0, dataLength: 0, numChildren: 0, mtime: Buffer.alloc(0), ctime: Buffer.alloc(0) } as unknown as ZkStat,
            data: Buffer.alloc(0),
          };
        }
        return valueHandle(path, at, flags, node, EPHEMERAL_MODES.has(mode));
      })(),
    mkdir: (path) =>
      (async () => {
        const p = place(path);
        if (p.kind === 'data' || p.kind === 'modes' || path === '/') throw fail('EEXIST', 'mkdir', path, 'it exists');
        await needDir('mkdir', path, parentOf(p.zk));
        const mode = p.kind === 'create' ? p.mode : zookeeper.CreateMode.PERSISTENT;
        // Null data: a directory even while it has no children.
        await call('mkdir', path, (c, done) => c.create(p.zk, mode, done));
        changed(parentOf(p.zk), p.zk);
      })(),
    rmdir: (path) =>
      (async () => {
        const p = place(path);
        if (path === '/') throw fail('EBUSY', 'rmdir', path, 'the root cannot be removed');
        if (p.kind !== 'node' && p.kind !== 'create') throw fail('EPERM', 'rmdir', path, 'not a znode');
        const node = await fetch('rmdir', path, p.zk);
        if (!node) throw fail('ENOENT', 'rmdir', path, `no such directory in ${where}`);
        if (!isDir(node)) throw fail('ENOTDIR', 'rmdir', path, 'a file, not a directory');
        if (node.stat.numChildren > 0) throw fail('ENOTEMPTY', 'rmdir', path, 'the znode has children');
        await call('rmdir', path, (c, done) => c.remove(p.zk, -1, done));
        changed(parentOf(p.zk), p.zk);
      })(),
    unlink: (path) =>
      (async () => {
        const p = place(path);
        if (p.kind === 'data') throw fail('EPERM', 'unlink', path, "a directory-znode's data is part of it: truncate .data to empty it");
        if (p.kind === 'modes') throw fail('EISDIR', 'unlink', path, 'is a directory');
        const node = await fetch('unlink', path, p.zk);
        if (!node) throw fail('ENOENT', 'unlink', path, `no such znode in ${where}`);
        if (isDir(node)) throw fail('EISDIR', 'unlink', path, 'is a directory');
        await call('unlink', path, (c, done) => c.remove(p.zk, -1, done));
        changed(parentOf(p.zk), p.zk);
      })(),
    truncate: (path, size) =>
      (async () => {
        if (size < 0) throw fail('EINVAL', 'truncate', path, 'negative size');
        if (size > ZK_MAX_DATA) throw fail('EFBIG', 'truncate', path, `over ZooKeeper's limit of ${ZK_MAX_DATA} bytes (jute.maxbuffer)`);
        const p = place(path);
        if (p.kind === 'modes') throw fail('EISDIR', 'truncate', path, 'is a directory');
        const node = p.kind === 'data' ? await needDir('truncate', path, p.zk) : await fetch('truncate', path, p.zk);
        if (!node) throw fail('ENOENT', 'truncate', path, `no such znode in ${where}`);
        if (p.kind !== 'data' && isDir(node)) throw fail('EISDIR', 'truncate', path, 'is a directory');
        const next = Buffer.alloc(size);
        node.data?.copy(next, 0, 0, Math.min(size, node.data.length));
        await call('truncate', path, (c, done) => c.setData(p.zk, next, node.stat.version, done));
        changed(p.zk);
      })(),
    rename: (from, to) =>
      (async () => {
        const a = place(from);
        const b = place(to);
        if (a.kind !== 'node' || b.kind !== 'node' || from === '/' || to === '/') {
          throw fail('EPERM', 'rename', from, `only znodes move (not ${DATA_FILE} or the creation directories)`);
        }
        const src = await fetch('rename', from, a.zk);
        if (!src) throw fail('ENOENT', 'rename', from, `no such znode in ${where}`);
        if (from === to) return;
        const target = await fetch('rename', to, b.zk);
        await needDir('rename', to, parentOf(b.zk));
        const tx = zk().transaction();
        if (!isDir(src)) {
          if (target && isDir(target)) throw fail('EISDIR', 'rename', to, 'the target is a directory');
          if (target) tx.remove(b.zk, target.stat.version);
          tx.create(b.zk, src.data ?? Buffer.alloc(0));
          tx.remove(a.zk, src.stat.version);
        } else {
          if (b.zk.startsWith(`${a.zk}/`)) throw fail('EINVAL', 'rename', from, 'a directory cannot move into itself');
          if (target && !isDir(target)) throw fail('ENOTDIR', 'rename', to, 'the target is a file');
          if (target && target.stat.numChildren > 0) throw fail('ENOTEMPTY', 'rename', to, 'the target has children');
          // The whole subtree, parents first, moved in one transaction.
          const tree = [a.zk];
          for (let level = [a.zk]; level.length > 0; ) {
            const below = await Promise.all(
              level.map(async (at) =>
                (await call<[string[]]>('rename', from, (c, done) => c.getChildren(at, done)))[0].map((name) => join(at, name)),
              ),
            );
            level = below.flat();
            tree.push(...level);
          }
          const all = await Promise.all(tree.map(async (at) => ({ at, node: await fetch('rename', from, at, false) })));
          let size = 0;
          for (const { at, node } of all) size += 2 * at.length + (node?.data?.length ?? 0) + 64;
          if (size > ZK_MAX_DATA) {
            throw fail(
              'EXDEV',
              'rename',
              from,
              `${all.length} znodes are too big to move in one ZooKeeper transaction (mv copies them instead)`,
            );
          }
          if (target) tx.remove(b.zk, target.stat.version);
          for (const { at, node } of all) {
            const dest = b.zk + at.slice(a.zk.length);
            if (node?.data === undefined) tx.create(dest);
            else tx.create(dest, node.data);
          }
          for (const { at } of [...all].reverse()) tx.remove(at, -1);
        }
        await call('rename', from, (_c, done) => tx.commit(done));
        changed(parentOf(a.zk), parentOf(b.zk), a.zk, b.zk);
      })(),
    watch(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      closed = true;
      listeners.clear();
      client?.close();
      client = undefined;
    },
  });
  return options.readOnly ? readOnlyLayer(backend) : backend;
}
