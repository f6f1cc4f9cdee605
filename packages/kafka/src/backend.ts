import { type Admin, type Consumer, Kafka, logLevel, type Message, type Producer, type SASLOptions } from 'kafkajs';
import {
  createBufferedHandle,
  createStreamHandle,
  dirStat,
  streamStat,
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
import { GROUPS, isTopicName, PARTITIONS, type Place, placeOf } from './paths.js';
import { FOLLOW_GROUP, reading } from './reading.js';
/** How long the list of topics answers `ls` and `stat`, ms. */
const TOPICS_TTL = 2000;
/**
 * The longest line a write takes: a message a little under the brokers' default limit
 * (message.max.bytes, 1 MiB with the record's overhead). A longer line fails EFBIG at write.
 */
export const KAFKA_MAX_MESSAGE = 1_000_000;
/** Bytes a writer may have sent but not yet acknowledged before its writes wait. */
const WRITE_AHEAD = 8 << 20;
/**
 * Bytes of lines one produce request carries: lines written meanwhile go out together, in
 * requests the brokers take (a partition's batch must stay under message.max.bytes, 1 MiB).
 */
const SEND_BYTES = 900_000;
/** Lines one produce request carries at most: kafkajs takes far longer per line past a few thousand. */
const SEND_LINES = 2000;
/** What a record costs in a batch beyond its bytes (lengths, offset and time deltas, headers). */
const RECORD_OVERHEAD = 24;
/** How long a topic's partitions and their offsets answer `stat`, ms. */
const OFFSETS_TTL = 1000;
const TAB = 0x09;

const now = () => Date.now();
const offsetText = (offset: string) => Buffer.from(`${offset}\n`);

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
  if (only !== undefined && !isTopicName(only)) {
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

  /**
   * One connection of a kind, made on first use; made again after it failed. `fresh` runs work
   * and, when the brokers say a topic is unknown, runs it once more on a new connection: a
   * kafkajs client keeps asking for the metadata of every topic it ever used, and once one of
   * them is deleted (by anyone) every later request naming a new topic fails that way.
   */
  const lazy = <T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(make: () => T) => {
    let ready: Promise<T> | undefined;
    const get = () =>
      (ready ??= (async () => {
        const c = make();
        await c.connect();
        return c;
      })().catch((e: unknown) => {
        ready = undefined;
        throw e;
      }));
    /** Old connections, closed once the requests they carry had time to end. */
    const retired = new Set<Promise<T>>();
    const retire = () => {
      const old = ready;
      ready = undefined;
      if (!old) return;
      retired.add(old);
      setTimeout(() => {
        retired.delete(old);
        old.then((c) => c.disconnect()).catch(() => undefined);
      }, timeoutMs * 2).unref();
    };
    const close = async () => {
      const all = [ready, ...retired];
      ready = undefined;
      retired.clear();
      await Promise.all(all.map((c) => c?.then((x) => x.disconnect()).catch(() => undefined)));
    };
    const fresh = async <R>(work: (client: T) => Promise<R>): Promise<R> => {
      const used = get();
      try {
        return await work(await used);
      } catch (e) {
        if ((e as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' && kafkaError(e, '', '', where).code !== 'ENOENT') throw e;
        // Another request may have made a new one meanwhile.
        if (ready === used) retire();
        return work(await get());
      }
    };
    return { get, close, fresh, retire };
  };
  const admin = lazy<Admin>(() => kafka.admin({ retry: { retries: 2 } }));
  const producer = lazy<Producer>(() => kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 }));
  const consumers = new Set<Consumer>();

  let topics: { until: number; names: Set<string> } | undefined;
  const topicNames = async (refresh = false): Promise<Set<string>> => {
    if (!refresh && topics && topics.until > now()) return topics.names;
    const names = new Set((await admin.fresh((a) => a.listTopics())).filter((t) => !t.startsWith('__')));
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
  /** What a path names; with `topic` set, other topics are not there. */
  const place = (op: string, path: string): Place => {
    const p = placeOf(op, path);
    if (only !== undefined && 'topic' in p && p.topic !== only) {
      throw new ShylockError('ENOENT', `${op} ${path}: this mount serves only the topic ${only}`, { op, path });
    }
    return p;
  };
  const noTopic = (op: string, path: string, topic: string, hint = '') =>
    new ShylockError('ENOENT', `${op} ${path}: no topic ${topic} at ${where}${hint}`, { op, path });
  const needTopic = async (op: string, path: string, topic: string) => {
    if (!(await exists(topic))) throw noTopic(op, path, topic);
  };

  /** A topic's partitions with their first and end offsets, kept OFFSETS_TTL for `stat`. */
  const offsetCache = new Map<string, { until: number; offsets: Promise<Map<number, { start: string; end: string }>> }>();
  const partitionsOf = (topic: string, fresh = false) => {
    const kept = offsetCache.get(topic);
    if (!fresh && kept && kept.until > now()) return kept.offsets;
    const offsets = (async () => {
      const list = await admin.fresh((a) => a.fetchTopicOffsets(topic));
      return new Map(list.map((o) => [o.partition, { start: o.low, end: o.high }]));
    })();
    offsetCache.set(topic, { until: now() + OFFSETS_TTL, offsets });
    offsets.catch(() => offsetCache.delete(topic));
    return offsets;
  };
  const partitionAt = async (op: string, path: string, topic: string, partition: number, fresh = false) => {
    await needTopic(op, path, topic);
    const found = (await partitionsOf(topic, fresh)).get(partition);
    if (!found) throw new ShylockError('ENOENT', `${op} ${path}: the topic ${topic} has no partition ${partition}`, { op, path });
    return found;
  };

  const createTopic = async (topic: string) => {
    try {
      await admin.fresh((a) =>
        a.createTopics({
          waitForLeaders: true,
          timeout: timeoutMs,
          topics: [
            {
              topic,
              numPartitions: options.partitions ?? 1,
              ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
            },
          ],
        }),
      );
    } catch (e) {
      // Made meanwhile by another client (or by the first try of `fresh`): it exists, which is what was asked.
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
   * The producing half of an open file: lines go out in order, one request at a time, each taking
   * what was written meanwhile (up to SEND_BYTES) while the writer goes on; a write waits once
   * WRITE_AHEAD bytes are unacknowledged. Lines the brokers did not take stay, with every later
   * one, until a flush sends them again.
   */
  const producing = (topic: string, path: string, partition?: number) => {
    /** Lines written and not yet acknowledged, from `head` on, with what each weighs in a request. */
    let queue: Message[] = [];
    let weights: number[] = [];
    let head = 0;
    let unacked = 0;
    let failure: ShylockError | undefined;
    let sending: Promise<void> | undefined;
    /** The next request: lines from the head up to SEND_BYTES and SEND_LINES (at least one). */
    const nextRequest = () => {
      let end = head;
      let bytes = 0;
      const last = Math.min(queue.length, head + SEND_LINES);
      while (end < last && (end === head || bytes + weights[end]! <= SEND_BYTES)) bytes += weights[end++]!;
      return { end, bytes };
    };
    const pump = () =>
      (sending ??= (async () => {
        // Never settled before `sending` holds it: the `finally` below must clear a set value.
        await null;
        try {
          while (head < queue.length && !failure) {
            const { end, bytes } = nextRequest();
            try {
              const messages = queue.slice(head, end);
              await producer.fresh((p) => p.send({ topic, acks, timeout: timeoutMs, messages }));
              head = end;
              unacked -= bytes;
              if (head === queue.length || head > 4096) {
                queue = queue.slice(head);
                weights = weights.slice(head);
                head = 0;
              }
            } catch (e) {
              const cause = kafkaError(e, 'write', path, where);
              failure = new ShylockError(
                cause.code === 'ENOENT' ? 'EIO' : cause.code,
                `${cause.message}; ${queue.length - head} lines are not stored (fsync retries them)`,
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
        for (const line of lines) {
          const m = toMessage(line);
          if (partition !== undefined) m.partition = partition;
          queue.push(m);
          const weight = line.length + RECORD_OVERHEAD;
          weights.push(weight);
          unacked += weight;
        }
        const p = pump();
        if (unacked > WRITE_AHEAD) await p;
        if (failure) throw failure;
      },
      /** Everything written is acknowledged; lines a failed request held are sent once more first. */
      settle: async () => {
        failure = undefined;
        await pump();
        if (failure) throw failure;
      },
    };
  };

  const readCtx = { kafka, where, consumers, toLine };
  const dirEntry = (name: string): DirEntry => ({ name, type: 'directory', stat: dirStat() });
  const offsetStat = (offset: string): Stat => ({ type: 'file', size: offsetText(offset).length, mode: 0o444, mtimeMs: now() });
  const readOnlyFile = (op: string, path: string, why: string) =>
    new ShylockError('EROFS', `${op} ${path}: ${why}`, { op, path, backend: 'kafka' });
  /** The offset a `from/<offset>` file starts at must not be past the partition's end. */
  const checkFrom = (op: string, path: string, from: string, end: string) => {
    if (BigInt(from) > BigInt(end)) {
      throw new ShylockError('ENOENT', `${op} ${path}: the partition ends at offset ${end}; read from/${end} to wait for what comes next`, {
        op,
        path,
      });
    }
  };
  /** Groups the brokers know, without the throwaway ones readers follow in. */
  const groupNames = async () =>
    (await admin.fresh((a) => a.listGroups())).groups
      .filter((g) => (g.protocolType === 'consumer' || g.protocolType === '') && !g.groupId.startsWith(FOLLOW_GROUP))
      .map((g) => g.groupId)
      .filter((g) => !g.includes('/') && g !== '.' && g !== '..')
      .sort();
  const topicList = async () =>
    [...(await topicNames())].filter((t) => (only === undefined || t === only) && t !== GROUPS && t !== PARTITIONS).sort();

  const backend = defineBackend({
    name: 'kafka',
    capabilities: { list: true, streams: true, unlink: true },
    stat: (path) =>
      guard('stat', path, async (): Promise<Stat> => {
        const p = place('stat', path);
        switch (p.kind) {
          case 'root':
          case 'groups':
          case 'group':
          case 'partitions':
            return dirStat();
          case 'topic':
          case 'member':
            await needTopic('stat', path, p.topic);
            return streamStat();
          case 'partitionsOf':
            await needTopic('stat', path, p.topic);
            return dirStat();
          case 'partition':
          case 'from':
            await partitionAt('stat', path, p.topic, p.partition);
            return dirStat();
          case 'offset':
            return offsetStat((await partitionAt('stat', path, p.topic, p.partition))[p.which]);
          case 'messages': {
            const { end } = await partitionAt('stat', path, p.topic, p.partition);
            if (p.from !== undefined) checkFrom('stat', path, p.from, end);
            return streamStat();
          }
        }
      }),
    list: (path) =>
      guard('list', path, async (): Promise<DirEntry[]> => {
        const p = place('list', path);
        const streams = (names: string[]) => names.map((name): DirEntry => ({ name, type: 'stream', stat: streamStat() }));
        switch (p.kind) {
          case 'root':
            return [dirEntry(GROUPS), dirEntry(PARTITIONS), ...streams(await topicList())];
          case 'groups':
            return (await groupNames()).map(dirEntry);
          case 'group':
            return streams(await topicList());
          case 'partitions':
            return (await topicList()).map(dirEntry);
          case 'partitionsOf':
            await needTopic('list', path, p.topic);
            return [...(await partitionsOf(p.topic, true)).keys()].sort((x, y) => x - y).map((n) => dirEntry(String(n)));
          case 'partition': {
            const { start, end } = await partitionAt('list', path, p.topic, p.partition, true);
            return [
              { name: 'start', type: 'file', stat: offsetStat(start) },
              { name: 'end', type: 'file', stat: offsetStat(end) },
              { name: 'messages', type: 'stream', stat: streamStat() },
              dirEntry('from'),
            ];
          }
          case 'from':
            await partitionAt('list', path, p.topic, p.partition);
            return [];
          default:
            throw new ShylockError('ENOTDIR', `list ${path}: not a directory`, { op: 'list', path });
        }
      }),
    open: (path, flags: OpenFlags) =>
      guard('open', path, async (): Promise<FileHandle> => {
        const p = place('open', path);
        switch (p.kind) {
          case 'topic':
          case 'member':
            if (!(await exists(p.topic))) {
              if (!flags.create) throw noTopic('open', path, p.topic, ' (creating the file creates it)');
              if (p.topic === GROUPS || p.topic === PARTITIONS) {
                throw new ShylockError('EINVAL', `open ${path}: ${p.topic} is the mount's own directory; name the topic otherwise`);
              }
              await createTopic(p.topic);
            } else if (flags.create && flags.exclusive) {
              throw new ShylockError('EEXIST', `open ${path}: the topic ${p.topic} exists`, { op: 'open', path });
            }
            break;
          case 'messages': {
            const { end } = await partitionAt('open', path, p.topic, p.partition, true);
            if (p.from !== undefined) {
              checkFrom('open', path, p.from, end);
              if (flags.write) throw readOnlyFile('open', path, `from/${p.from} is for reading; write to messages`);
            }
            break;
          }
          case 'offset': {
            if (flags.write) throw readOnlyFile('open', path, `${p.which} is the partition's ${p.which} offset, for reading`);
            const offsets = await partitionAt('open', path, p.topic, p.partition, true);
            return createBufferedHandle({
              path,
              backend: 'kafka',
              flags,
              initial: offsetText(offsets[p.which]),
              commit: () => Promise.reject(readOnlyFile('write', path, 'an offset file is for reading')),
            });
          }
          default:
            if (flags.create && p.kind !== 'root')
              throw new ShylockError('EEXIST', `open ${path}: it is a directory`, { op: 'open', path });
            throw new ShylockError('EISDIR', `open ${path}: is a directory`, { op: 'open', path });
        }
        const partition = p.kind === 'messages' ? p.partition : undefined;
        const writer = flags.write ? producing(p.topic, path, partition) : undefined;
        const reader = flags.read
          ? reading(
              {
                topic: p.topic,
                path,
                ...(p.kind === 'member' ? { group: p.group } : {}),
                ...(partition === undefined ? {} : { partition }),
                ...(p.kind === 'messages' && p.from !== undefined ? { from: p.from } : {}),
              },
              readCtx,
            )
          : undefined;
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
        const p = place('unlink', path);
        if (p.kind !== 'topic') {
          throw new ShylockError('EPERM', `unlink ${path}: only a topic's file at the root can be removed (it deletes the topic)`, {
            op: 'unlink',
            path,
          });
        }
        if (!options.allowDelete) {
          throw new ShylockError('EPERM', `unlink ${path}: deleting topics is off; mount with --allow-delete to let rm delete ${p.topic}`, {
            op: 'unlink',
            path,
          });
        }
        await needTopic('unlink', path, p.topic);
        await admin.fresh((a) => a.deleteTopics({ topics: [p.topic], timeout: timeoutMs }));
        topics = undefined;
        // Clients that used the topic would ask for it from now on (see `lazy`).
        producer.retire();
        admin.retire();
        offsetCache.delete(p.topic);
      }),
    mkdir: (path) =>
      guard('mkdir', path, async () => {
        const p = place('mkdir', path);
        // A group's directory is there for every group id: reading in it makes the group.
        if (p.kind === 'group' || p.kind === 'groups' || p.kind === 'partitions' || p.kind === 'root') {
          throw new ShylockError('EEXIST', `mkdir ${path}: it exists`, { op: 'mkdir', path });
        }
        throw new ShylockError('EPERM', `mkdir ${path}: a topic is a file, not a directory: create it with touch`, { op: 'mkdir', path });
      }),
    close: async () => {
      await Promise.all([...consumers].map((c) => c.disconnect().catch(() => undefined)));
      consumers.clear();
      await Promise.all([producer.close(), admin.close()]);
    },
  });
  return options.readOnly ? readOnlyLayer(backend) : backend;
}
