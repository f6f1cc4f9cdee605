import type { Redis } from 'ioredis';
import {
  createInbox,
  createStreamHandle,
  ShylockError,
  type FileHandle,
  type Inbox,
  type OpenFlags,
  type StreamHandleOptions,
} from '@shylock/core';
import { redisError } from './errors.js';

/** The directories whose files are streams. */
export type Area = 'pubsub' | 'streams' | 'queues';

/** What the stream files of one backend share. */
export interface StreamContext {
  client(): Redis;
  prefix: string;
  where: string;
  backlog: number;
  maxMessageBytes: number;
  timeoutMs: number;
}

/** The channels, streams and queues of one backend, and the connections their readers hold. */
export interface Channels {
  open(area: Area, name: string, path: string, flags: OpenFlags): Promise<FileHandle>;
  /** Channels this backend's readers subscribe to (names without the prefix). */
  subscribed(): string[];
  /** Ends every reader and closes their connections. */
  close(): Promise<void>;
}

/** How long one blocking read (XREAD BLOCK, BLPOP) waits before asking again, ms. */
const blockMs = (ctx: StreamContext) => Math.max(100, Math.min(1000, Math.floor(ctx.timeoutMs / 2)));

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** The bytes as a Buffer, without copying. */
const asBuffer = (m: Uint8Array) => Buffer.from(m.buffer, m.byteOffset, m.length);

/** One entry of a Redis stream as a line: the `data` field as written, other shapes as JSON. */
function entryLine(fields: Buffer[]): Uint8Array {
  if (fields.length === 2 && fields[0]!.toString() === 'data') return fields[1]!;
  const object: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) object[fields[i]!.toString()] = fields[i + 1]!.toString();
  return Buffer.from(JSON.stringify(object));
}

/**
 * Opens the stream files of a Redis mount. Pub/sub readers share one subscriber connection;
 * each stream or queue reader has a connection of its own for its blocking reads.
 */
export function createChannels(ctx: StreamContext): Channels {
  const { prefix, where } = ctx;
  const fail = (e: unknown, op: string, path: string) => redisError(e, op, path, where);
  /** Connections of open readers, closed with the backend. */
  const connections = new Set<Redis>();
  const dedicated = () => {
    const c = ctx.client().duplicate();
    c.on('error', () => undefined);
    connections.add(c);
    return c;
  };
  const drop = (c: Redis) => {
    connections.delete(c);
    c.disconnect();
  };

  /** A stream file of this backend: `publish`, `receive` and `release` are the area's own. */
  const streamHandle = (path: string, flags: OpenFlags, parts: Pick<StreamHandleOptions, 'publish' | 'receive' | 'release'>) =>
    createStreamHandle({ path, backend: 'redis', flags, maxMessageBytes: ctx.maxMessageBytes, ...parts });

  // Pub/sub: one subscriber connection, channel → the inboxes of its readers.
  let subscriber: Redis | undefined;
  const readers = new Map<string, Set<Inbox>>();
  const sub = () => {
    if (subscriber) return subscriber;
    const s = dedicated();
    s.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      for (const inbox of readers.get(channel.toString()) ?? []) inbox.push(message);
    });
    // A lost connection loses messages: tell every reader (EIO) instead of waiting silently.
    // ioredis reconnects and subscribes again; a later read waits for new messages.
    s.on('close', () => {
      const error = new ShylockError('EIO', `Redis at ${where} dropped the subscription; messages published meanwhile are lost`, {
        backend: 'redis',
        retryable: true,
      });
      for (const set of readers.values()) for (const inbox of set) inbox.fail(error);
    });
    return (subscriber = s);
  };

  const openPubsub = async (name: string, path: string, flags: OpenFlags): Promise<FileHandle> => {
    const channel = prefix + name;
    let inbox: Inbox | undefined;
    if (flags.read) {
      inbox = createInbox(ctx.backlog);
      let set = readers.get(channel);
      if (!set) readers.set(channel, (set = new Set()));
      set.add(inbox);
      // Subscribed before open returns: a message published after open reaches this reader.
      try {
        await sub().subscribe(channel);
      } catch (e) {
        set.delete(inbox);
        throw fail(e, 'open', path);
      }
    }
    return streamHandle(path, flags, {
      publish: async (messages) => {
        // Every line answered, or the write fails: nothing counts as published unseen. One
        // promise per PUBLISH, each awaited (auto-pipelining sends them together), so a
        // connection lost midway rejects them all into this write, none unhandled.
        const c = ctx.client();
        await Promise.all(messages.map((m) => c.publish(channel, asBuffer(m))));
      },
      ...(inbox ? { receive: (signal: AbortSignal) => inbox.receive(signal) } : {}),
      release: async () => {
        if (!inbox) return;
        const set = readers.get(channel);
        set?.delete(inbox);
        if (set?.size === 0) {
          readers.delete(channel);
          await subscriber?.unsubscribe(channel).catch(() => undefined);
        }
      },
    });
  };

  const openStream = (name: string, path: string, flags: OpenFlags): FileHandle => {
    const key = prefix + name;
    let conn: Redis | undefined;
    let lastId = '0';
    return streamHandle(path, flags, {
      publish: async (messages) => {
        const c = ctx.client();
        await Promise.all(messages.map((m) => c.xadd(key, '*', 'data', asBuffer(m))));
      },
      // From the first entry, then following: XREAD BLOCK on this reader's own connection.
      receive: async (signal) => {
        conn ??= dedicated();
        const c = conn;
        const aborted = new Promise<null>((resolve) => signal.addEventListener('abort', () => resolve(null), { once: true }));
        while (!signal.aborted) {
          const reply = (await Promise.race([c.xreadBuffer('COUNT', 1000, 'BLOCK', blockMs(ctx), 'STREAMS', key, lastId), aborted])) as
            | [Buffer, [Buffer, Buffer[]][]][]
            | null;
          const entries = reply?.[0]?.[1];
          if (!entries || entries.length === 0) continue;
          lastId = entries[entries.length - 1]![0].toString();
          return entries.map(([, fields]) => entryLine(fields));
        }
        return null;
      },
      release: async () => {
        if (conn) drop(conn);
      },
    });
  };

  const openQueue = (name: string, path: string, flags: OpenFlags): FileHandle => {
    const key = prefix + name;
    let conn: Redis | undefined;
    /** Tasks popped but not read go back to the head of the list, in order. */
    const giveBack = async (tasks: Uint8Array[]) => {
      if (tasks.length === 0) return;
      await ctx.client().lpush(key, ...tasks.map((t) => asBuffer(t)).reverse());
    };
    return streamHandle(path, flags, {
      publish: async (messages) => {
        await ctx.client().rpush(key, ...messages.map((m) => asBuffer(m)));
      },
      // One task per read. A BLPOP in flight is never cut off: a task it pops after the reader
      // closed goes back to the queue, so none is lost.
      receive: async (signal) => {
        conn ??= dedicated();
        while (!signal.aborted) {
          let reply: [string, Buffer] | null;
          try {
            reply = (await conn.blpopBuffer(key, blockMs(ctx) / 1000)) as unknown as [string, Buffer] | null;
          } catch (e) {
            if (signal.aborted) return null;
            // A refused connection answers at once: pause so a reader does not spin.
            await sleep(200, signal);
            throw e;
          }
          if (!reply) continue;
          if (signal.aborted) {
            await giveBack([reply[1]]);
            return null;
          }
          return [reply[1]];
        }
        return null;
      },
      release: async (unread) => {
        try {
          await giveBack(unread);
        } finally {
          if (conn) drop(conn);
        }
      },
    });
  };

  return {
    async open(area, name, path, flags) {
      if (area === 'pubsub') return openPubsub(name, path, flags);
      if (area === 'streams') return openStream(name, path, flags);
      return openQueue(name, path, flags);
    },
    subscribed: () => [...readers.keys()].filter((c) => c.startsWith(prefix)).map((c) => c.slice(prefix.length)),
    async close() {
      for (const set of readers.values()) for (const inbox of set) inbox.end();
      readers.clear();
      subscriber = undefined;
      for (const c of connections) c.disconnect();
      connections.clear();
    },
  };
}
