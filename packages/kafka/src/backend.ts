import { randomUUID } from 'node:crypto';
import { type Admin, type Consumer, Kafka, logLevel, type Message, type Producer, type SASLOptions } from 'kafkajs';
import {
  createStreamHandle,
  defineBackend,
  optionsFrom,
  parseList,
  readOnly as readOnlyLayer,
  ShylockError,
  type Backend,
  type DirEntry,
  type FileHandle,
  type OpenFlags,
  type Stat,
} from '@shylock/core';
import { kafkaError } from './errors.js';
import { KAFKA_OPTIONS, type KafkaBackendOptions, saslFrom } from './options.js';

/** Topic names Kafka accepts: letters, digits, `.`, `_`, `-`, up to 249, not `.` or `..`. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
/** How long the list of topics answers `ls` and `stat`, ms. */
const TOPICS_TTL = 2000;
/**
 * The longest line a write takes: a message a little under the brokers' default limit
 * (message.max.bytes, 1 MiB with the record's overhead). A longer line fails EFBIG at write.
 */
export const KAFKA_MAX_MESSAGE = 1_000_000;
/** Bytes a writer may have sent but not yet acknowledged before its writes wait. */
const WRITE_AHEAD = 8 << 20;
/** Bytes a reader keeps fetched ahead of `read` before its consumer waits. */
const READ_AHEAD = 16 << 20;
const TAB = 0x09;

const now = () => Date.now();
const dirStat = (): Stat => ({ type: 'directory', size: 0, mode: 0o755, mtimeMs: now(), nlink: 2 });
const streamStat = (): Stat => ({ type: 'stream', size: 0, mode: 0o644, mtimeMs: now() });

/**
 * Kafka topics as files. The root lists the topics; `/<topic>` is a stream: each line written is
 * a message (produced in order, acknowledged by the brokers before `flush`/`fsync`/`close`
 * returns), and `cat` follows the topic from its earliest offset like `tail -f`, committing
 * nothing. Creating a file creates its topic; `rm` deletes one when `allowDelete` is set.
 *
 * ```ts
 * const kafka = kafkaBackend({ brokers: ['127.0.0.1:9092'], keys: true });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function kafkaBackend(options: KafkaBackendOptions = {}): Backend {
  options = { ...optionsFrom(KAFKA_OPTIONS, options as unknown as Record<string, unknown>), ...options } as KafkaBackendOptions;
  const brokers = (typeof options.brokers === 'string' ? parseList(options.brokers) : (options.brokers ?? ['127.0.0.1:9092'])).map((b) =>
    b.trim(),
  );
  for (const b of brokers) {
    if (!/^[^\s:/]+:\d{1,5}$/.test(b)) throw new ShylockError('EINVAL', `kafka: --brokers: "${b}" is not host:port (e.g. 127.0.0.1:9092)`);
  }
  if (brokers.length === 0) throw new ShylockError('EINVAL', 'kafka: --brokers names no broker (e.g. 127.0.0.1:9092)');
  const only = options.topic;
  if (only !== undefined && (!TOPIC_NAME.test(only) || only === '.' || only === '..')) {
    throw new ShylockError('EINVAL', `kafka: --topic "${only}" is not a topic name (letters, digits, . _ -; up to 249)`);
  }
  const sasl = saslFrom(options);
  const keys = options.keys === true;
  const acks = options.acks ?? -1;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const where = `kafka://${brokers.join(',')}`;
  const kafka = new Kafka({
    clientId: options.clientId ?? 'shylock',
    brokers,
    ...(options.ssl ? { ssl: true } : {}),
    ...(sasl ? { sasl: sasl as SASLOptions } : {}),
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    // A broker gone shows as EIO within seconds, not after kafkajs's default half minute.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
  });

  /** One connection of a kind, made on first use; made again after it failed. */
  const lazy = <T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(make: () => T) => {
    let ready: Promise<T> | undefined;
    return {
      get: () =>
        (ready ??= (async () => {
          const c = make();
          await c.connect();
          return c;
        })().catch((e: unknown) => {
          ready = undefined;
          throw e;
        })),
      close: async () => {
        const c = await ready?.catch(() => undefined);
        ready = undefined;
        await c?.disconnect().catch(() => undefined);
      },
    };
  };
  const admin = lazy<Admin>(() => kafka.admin({ retry: { retries: 2 } }));
  const producer = lazy<Producer>(() => kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 }));
  const consumers = new Set<Consumer>();

  let topics: { until: number; names: Set<string> } | undefined;
  const topicNames = async (refresh = false): Promise<Set<string>> => {
    if (!refresh && topics && topics.until > now()) return topics.names;
    const names = new Set((await (await admin.get()).listTopics()).filter((t) => !t.startsWith('__')));
    topics = { until: now() + TOPICS_TTL, names };
    return names;
  };
  /** Whether a topic exists; a name missing from a cached list is asked for again. */
  const exists = async (topic: string) => (await topicNames()).has(topic) || (await topicNames(true)).has(topic);

  const guard = async <T>(op: string, path: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw kafkaError(e, op, path, where);
    }
  };
  /** The topic a path names, or why it names none. */
  const topicOf = (op: string, path: string): string => {
    const name = path.slice(1);
    if (name.includes('/')) {
      throw new ShylockError('ENOENT', `${op} ${path}: a topic is a file at the root; there is nothing below it`, { op, path });
    }
    if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
      throw new ShylockError('EINVAL', `${op} ${path}: "${name}" can't be a topic name (letters, digits, . _ -; up to 249)`, { op, path });
    }
    if (only !== undefined && name !== only) {
      throw new ShylockError('ENOENT', `${op} ${path}: this mount serves only the topic ${only}`, { op, path });
    }
    return name;
  };
  const createTopic = async (topic: string) => {
    const a = await admin.get();
    try {
      await a.createTopics({
        waitForLeaders: true,
        timeout: timeoutMs,
        topics: [
          {
            topic,
            numPartitions: options.partitions ?? 1,
            ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
          },
        ],
      });
    } catch (e) {
      // Made meanwhile by another client: it exists, which is what was asked.
      if (kafkaError(e, 'create', topic, where).code !== 'EEXIST') throw e;
    }
    topics = undefined;
  };

  /** A line as a message: `key<TAB>value` with keys on, else the whole line is the value. */
  const toMessage = (line: Uint8Array): Message => {
    const value = Buffer.from(line.buffer, line.byteOffset, line.length);
    if (!keys) return { value };
    const tab = value.indexOf(TAB);
    return tab === -1 ? { value } : { key: value.subarray(0, tab), value: value.subarray(tab + 1) };
  };
  /** A message as a line: with keys on, `key<TAB>value` (an empty key for none). */
  const toLine = (key: Buffer | null, value: Buffer | null): Uint8Array => {
    const v = value ?? Buffer.alloc(0);
    if (!keys) return v;
    const k = key ?? Buffer.alloc(0);
    const out = Buffer.allocUnsafe(k.length + 1 + v.length);
    k.copy(out, 0);
    out[k.length] = TAB;
    v.copy(out, k.length + 1);
    return out;
  };

  /**
   * The producing half of an open file: batches (one per write) go out one after another while
   * the writer goes on; a write waits once WRITE_AHEAD bytes are unacknowledged. A batch the
   * brokers did not take stays, with every later one, until a flush sends them again.
   */
  const producing = (topic: string, path: string) => {
    const pending: { messages: Message[]; bytes: number }[] = [];
    let unacked = 0;
    let failure: ShylockError | undefined;
    let sending: Promise<void> | undefined;
    const pump = () =>
      (sending ??= (async () => {
        // Never settled before `sending` holds it: the `finally` below must clear a set value.
        await null;
        try {
          while (pending.length > 0 && !failure) {
            const batch = pending[0]!;
            try {
              await (await producer.get()).send({ topic, acks, timeout: timeoutMs, messages: batch.messages });
              pending.shift();
              unacked -= batch.bytes;
            } catch (e) {
              const lines = pending.reduce((n, b) => n + b.messages.length, 0);
              const cause = kafkaError(e, 'write', path, where);
              failure = new ShylockError(
                cause.code === 'ENOENT' ? 'EIO' : cause.code,
                `${cause.message}; ${lines} lines are not stored (fsync retries them)`,
                {
                  op: 'write',
                  path,
                  backend: 'kafka',
                  cause: e,
                  retryable: cause.retryable,
                },
              );
            }
          }
        } finally {
          sending = undefined;
        }
      })());
    return {
      publish: async (lines: Uint8Array[]) => {
        if (failure) throw failure;
        const bytes = lines.reduce((n, l) => n + l.length, 0);
        pending.push({ messages: lines.map(toMessage), bytes });
        unacked += bytes;
        const p = pump();
        if (unacked > WRITE_AHEAD) await p;
        if (failure) throw failure;
      },
      /** Everything written is acknowledged; a failed batch is sent once more first. */
      settle: async () => {
        failure = undefined;
        await pump();
        if (failure) throw failure;
      },
    };
  };

  /**
   * The reading half: a consumer of its own in a throwaway group (`shylock-follow-<id>`, which
   * never commits), from the earliest offset, started at the first read (a file opened for
   * reading and writing by `>` costs no consumer). It waits while READ_AHEAD bytes are unread.
   */
  const following = (topic: string, path: string) => {
    const queue: Uint8Array[] = [];
    let queued = 0;
    let failure: ShylockError | undefined;
    let wake: (() => void) | undefined;
    let drained: (() => void) | undefined;
    let started: Promise<Consumer> | undefined;
    let released = false;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const start = async (): Promise<Consumer> => {
      const consumer = kafka.consumer({ groupId: `shylock-follow-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
      consumers.add(consumer);
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        // kafkajs restarts a consumer after a passing fault; one it gives up on ends the reader.
        if (!payload.restart) {
          failure = kafkaError(payload.error, 'read', path, where);
          notify();
        }
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
            for (const m of batch.messages) {
              if (!isRunning() || isStale()) return;
              const line = toLine(m.key, m.value);
              queue.push(line);
              queued += line.length;
            }
            notify();
            while (queued > READ_AHEAD && isRunning()) {
              await new Promise<void>((resolve) => {
                drained = resolve;
                setTimeout(resolve, 1000);
              });
              await heartbeat().catch(() => undefined);
            }
          },
        });
      } catch (e) {
        consumers.delete(consumer);
        await consumer.disconnect().catch(() => undefined);
        throw kafkaError(e, 'read', path, where);
      }
      return consumer;
    };
    return {
      receive: async (signal: AbortSignal): Promise<Uint8Array[]> => {
        if (!started) {
          started = start();
          // A consumer that could not start is tried again by the next read.
          started.catch(() => (started = undefined));
        }
        await started;
        while (queue.length === 0) {
          if (failure) throw failure;
          if (signal.aborted) throw new ShylockError('ECANCELED', `read ${path}: the file was closed`, { op: 'read', path });
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
        }
        const out = queue.splice(0);
        queued = 0;
        const d = drained;
        drained = undefined;
        d?.();
        return out;
      },
      release: async () => {
        if (released) return;
        released = true;
        drained?.();
        const consumer = await started?.catch(() => undefined);
        if (!consumer) return;
        consumers.delete(consumer);
        await consumer.disconnect().catch(() => undefined);
      },
    };
  };

  const backend = defineBackend({
    name: 'kafka',
    capabilities: { list: true, streams: true, unlink: true },
    stat: (path) =>
      guard('stat', path, async () => {
        if (path === '/') return dirStat();
        const topic = topicOf('stat', path);
        if (!(await exists(topic))) throw new ShylockError('ENOENT', `stat ${path}: no topic ${topic} at ${where}`, { op: 'stat', path });
        return streamStat();
      }),
    list: (path) =>
      guard('list', path, async (): Promise<DirEntry[]> => {
        if (path !== '/') {
          topicOf('list', path);
          throw new ShylockError('ENOTDIR', `list ${path}: a topic is a file`, { op: 'list', path });
        }
        const names = [...(await topicNames())].filter((t) => only === undefined || t === only).sort();
        return names.map((name) => ({ name, type: 'stream', stat: streamStat() }));
      }),
    open: (path, flags: OpenFlags) =>
      guard('open', path, async (): Promise<FileHandle> => {
        if (path === '/') throw new ShylockError('EISDIR', 'open /: the root is the list of topics', { op: 'open', path });
        const topic = topicOf('open', path);
        if (!(await exists(topic))) {
          if (!flags.create) throw new ShylockError('ENOENT', `open ${path}: no topic ${topic} at ${where} (creating the file creates it)`);
          await createTopic(topic);
        } else if (flags.create && flags.exclusive) {
          throw new ShylockError('EEXIST', `open ${path}: the topic ${topic} exists`, { op: 'open', path });
        }
        const writer = flags.write ? producing(topic, path) : undefined;
        const reader = flags.read ? following(topic, path) : undefined;
        return createStreamHandle({
          path,
          backend: 'kafka',
          flags,
          maxMessageBytes: KAFKA_MAX_MESSAGE,
          ...(writer ? { publish: writer.publish, settle: writer.settle } : {}),
          ...(reader ? { receive: reader.receive, release: reader.release } : {}),
        });
      }),
    unlink: (path) =>
      guard('unlink', path, async () => {
        const topic = topicOf('unlink', path);
        if (!options.allowDelete) {
          throw new ShylockError('EPERM', `unlink ${path}: deleting topics is off; mount with --allow-delete to let rm delete ${topic}`, {
            op: 'unlink',
            path,
          });
        }
        if (!(await exists(topic))) throw new ShylockError('ENOENT', `unlink ${path}: no topic ${topic} at ${where}`);
        await (await admin.get()).deleteTopics({ topics: [topic], timeout: timeoutMs });
        topics = undefined;
      }),
    mkdir: (path) =>
      guard('mkdir', path, async () => {
        const topic = topicOf('mkdir', path);
        throw new ShylockError('EPERM', `mkdir ${path}: a topic is a file, not a directory: create it with touch ${topic}`, {
          op: 'mkdir',
          path,
        });
      }),
    close: async () => {
      await Promise.all([...consumers].map((c) => c.disconnect().catch(() => undefined)));
      consumers.clear();
      await Promise.all([producer.close(), admin.close()]);
    },
  });
  return options.readOnly ? readOnlyLayer(backend) : backend;
}
