import { ShylockError } from '@shylock/core';

/** Topic names Kafka accepts: letters, digits, `.`, `_`, `-`, up to 249, not `.` or `..`. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
/** The directory of consumer groups. */
export const GROUPS = '.groups';
/** The directory of topics' partitions. */
export const PARTITIONS = '.partitions';
/** The names a partition's directory holds. */
export const PARTITION_FILES = ['start', 'end', 'messages', 'from'] as const;

export const isTopicName = (name: string) => TOPIC_NAME.test(name) && name !== '.' && name !== '..';

/** What a path in the mount names. */
export type Place =
  | { kind: 'root' }
  /** `/<topic>`: the topic as a stream. */
  | { kind: 'topic'; topic: string }
  /** `/.groups`: the consumer groups. */
  | { kind: 'groups' }
  /** `/.groups/<group>`: the topics, as that group reads them. */
  | { kind: 'group'; group: string }
  /** `/.groups/<group>/<topic>`: the topic read as a member of the group. */
  | { kind: 'member'; group: string; topic: string }
  /** `/.partitions`: the topics again, as directories of partitions. */
  | { kind: 'partitions' }
  /** `/.partitions/<topic>`: one directory per partition. */
  | { kind: 'partitionsOf'; topic: string }
  /** `/.partitions/<topic>/<n>`: start, end, messages, from/. */
  | { kind: 'partition'; topic: string; partition: number }
  /** `/.partitions/<topic>/<n>/start` or `end`: an offset as text. */
  | { kind: 'offset'; topic: string; partition: number; which: 'start' | 'end' }
  /** `/.partitions/<topic>/<n>/messages`, or `from/<offset>`: the partition as a stream. */
  | { kind: 'messages'; topic: string; partition: number; from?: string }
  /** `/.partitions/<topic>/<n>/from`: where `from/<offset>` files live. */
  | { kind: 'from'; topic: string; partition: number };

/** Kafka group ids may hold almost anything; a path component may not hold `/` or be `.`/`..`. */
const GROUP_NAME = /^[^/\0]{1,249}$/;
const PARTITION = /^(0|[1-9]\d{0,5})$/;
const OFFSET = /^(0|[1-9]\d{0,18})$/;

/**
 * What `path` names, or the error saying why it names nothing (ENOENT for a path below a topic or
 * outside the layout, EINVAL for a name Kafka would refuse).
 */
export function placeOf(op: string, path: string): Place {
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const ctx = { op, path };
  const none = (why: string) => new ShylockError('ENOENT', `${op} ${path}: ${why}`, ctx);
  const topicAt = (name: string) => {
    if (!isTopicName(name)) {
      throw new ShylockError('EINVAL', `${op} ${path}: "${name}" can't be a topic name (letters, digits, . _ -; up to 249)`, ctx);
    }
    return name;
  };
  const partitionAt = (name: string) => {
    if (!PARTITION.test(name)) throw none(`"${name}" is not a partition number (0, 1, …)`);
    return Number(name);
  };
  const [first, second, third, fourth, fifth, ...rest] = parts;
  if (first === undefined) return { kind: 'root' };
  if (first === GROUPS) {
    if (second === undefined) return { kind: 'groups' };
    if (!GROUP_NAME.test(second) || second === '.' || second === '..') throw none(`"${second}" can't be a group id`);
    if (third === undefined) return { kind: 'group', group: second };
    if (fourth !== undefined) throw none('a topic in a group is a file; there is nothing below it');
    return { kind: 'member', group: second, topic: topicAt(third) };
  }
  if (first === PARTITIONS) {
    if (second === undefined) return { kind: 'partitions' };
    const topic = topicAt(second);
    if (third === undefined) return { kind: 'partitionsOf', topic };
    const partition = partitionAt(third);
    if (fourth === undefined) return { kind: 'partition', topic, partition };
    if (fourth === 'start' || fourth === 'end') {
      if (fifth !== undefined) throw none(`${fourth} is a file`);
      return { kind: 'offset', topic, partition, which: fourth };
    }
    if (fourth === 'messages') {
      if (fifth !== undefined) throw none('messages is a file');
      return { kind: 'messages', topic, partition };
    }
    if (fourth === 'from') {
      if (fifth === undefined) return { kind: 'from', topic, partition };
      if (!OFFSET.test(fifth) || rest.length > 0) throw none(`from/ holds a file per offset: from/0, from/1500, …, not "${fifth}"`);
      return { kind: 'messages', topic, partition, from: fifth };
    }
    throw none(`a partition's directory holds ${PARTITION_FILES.join(', ')}`);
  }
  if (second !== undefined) throw none('a topic is a file at the root; there is nothing below it');
  return { kind: 'topic', topic: topicAt(first) };
}

/** The topic a place is about, if any. */
export const topicOfPlace = (p: Place): string | undefined => ('topic' in p ? p.topic : undefined);
