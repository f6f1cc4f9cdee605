import { parseBoolean, parseCount, parseList, ShylockError, timeoutOption, type OptionDecl } from '@shylock/core';

/** Options of {@link kafkaBackend}. */
export interface KafkaBackendOptions {
  /** Brokers, `host:port` each (default `$KAFKA_BROKERS`, else `127.0.0.1:9092`). */
  brokers?: string[] | string;
  /** Serve only this topic (`$KAFKA_TOPIC`): the root lists it alone. */
  topic?: string;
  /** The client id the brokers see (default `shylock`). */
  clientId?: string;
  /** Lines are `key<TAB>value`, both ways (default: a line is the value, no key). */
  keys?: boolean;
  /** `rm` of a topic file deletes the topic (default: refused, EPERM). */
  allowDelete?: boolean;
  /** Partitions of a topic made by creating its file (default 1). */
  partitions?: number;
  /** Replicas of a topic made by creating its file (default: the brokers' default). */
  replicationFactor?: number;
  /** Acknowledgements a produce waits for: -1 all in-sync replicas (default), 1 the leader. */
  acks?: -1 | 0 | 1;
  /** Milliseconds a request may wait for the brokers before ETIMEDOUT (default 10000). */
  timeoutMs?: number;
  /** TLS to the brokers (default off). */
  ssl?: boolean;
  /** SASL: mechanism `plain`, `scram-sha-256` or `scram-sha-512`, with a username and password. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** The same as three flat options, as the `--sasl-*` flags give them. */
  saslMechanism?: string;
  saslUsername?: string;
  saslPassword?: string;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
}

const positive = (text: string, from: string) => {
  const n = parseCount(text, from);
  if (n < 1) throw new ShylockError('EINVAL', `${from} must be at least 1, got "${text}"`);
  return n;
};

/** Kafka's options: the factory, its environment and the `shylock kafka` flags read them from here. */
export const KAFKA_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'brokers',
    flag: 'brokers',
    env: 'KAFKA_BROKERS',
    type: 'string',
    value: '<host:port,…>',
    default: '127.0.0.1:9092',
    help: 'the brokers to start from, comma-separated',
    parse: (text) => parseList(text),
  },
  { key: 'topic', flag: 'topic', env: 'KAFKA_TOPIC', type: 'string', value: '<name>', help: 'serve only this topic' },
  { key: 'clientId', flag: 'client-id', type: 'string', value: '<id>', default: 'shylock', help: 'the client id the brokers see' },
  { key: 'keys', flag: 'keys', type: 'boolean', help: 'lines are key<TAB>value, written and read', parse: parseBoolean },
  { key: 'allowDelete', flag: 'allow-delete', type: 'boolean', help: 'rm of a topic file deletes the topic', parse: parseBoolean },
  {
    key: 'partitions',
    flag: 'partitions',
    type: 'string',
    value: '<n>',
    default: '1',
    help: 'partitions of a topic made by creating its file',
    parse: positive,
  },
  {
    key: 'replicationFactor',
    flag: 'replication-factor',
    type: 'string',
    value: '<n>',
    help: "replicas of a topic made by creating its file (default: the brokers')",
    parse: positive,
  },
  {
    key: 'acks',
    flag: 'acks',
    type: 'string',
    value: '<all|1>',
    default: 'all',
    help: 'acknowledgements a write waits for: all in-sync replicas, or the leader',
    parse: (text, from) => {
      const t = text.trim().toLowerCase();
      if (t === 'all' || t === '-1') return -1;
      if (t === '1') return 1;
      throw new ShylockError('EINVAL', `${from} must be all or 1, got "${text}"`);
    },
  },
  { key: 'ssl', flag: 'ssl', type: 'boolean', help: 'TLS to the brokers', parse: parseBoolean },
  {
    key: 'saslMechanism',
    flag: 'sasl-mechanism',
    type: 'string',
    value: '<plain|scram-sha-256|scram-sha-512>',
    help: 'SASL authentication, with --sasl-username and --sasl-password',
  },
  { key: 'saslUsername', flag: 'sasl-username', env: 'KAFKA_SASL_USERNAME', type: 'string', value: '<name>', help: 'SASL user' },
  { key: 'saslPassword', flag: 'sasl-password', env: 'KAFKA_SASL_PASSWORD', type: 'string', value: '<secret>', help: 'SASL password' },
  timeoutOption('a request to the brokers', 10_000),
];

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** The SASL settings of flat options (`saslMechanism`, `saslUsername`, `saslPassword`), checked. */
export function saslFrom(o: KafkaBackendOptions): KafkaBackendOptions['sasl'] {
  if (o.sasl) return o.sasl;
  const mechanism = o.saslMechanism as string | undefined;
  if (mechanism === undefined) {
    if (o.saslUsername !== undefined || o.saslPassword !== undefined) {
      throw new ShylockError(
        'EINVAL',
        'kafka: --sasl-username and --sasl-password need --sasl-mechanism (plain, scram-sha-256 or scram-sha-512)',
      );
    }
    return undefined;
  }
  const m = mechanism.toLowerCase();
  if (!(MECHANISMS as readonly string[]).includes(m)) {
    throw new ShylockError('EINVAL', `kafka: --sasl-mechanism must be plain, scram-sha-256 or scram-sha-512, got "${mechanism}"`);
  }
  if (typeof o.saslUsername !== 'string' || typeof o.saslPassword !== 'string') {
    throw new ShylockError('EINVAL', `kafka: --sasl-mechanism ${m} needs --sasl-username and --sasl-password`);
  }
  return { mechanism: m as (typeof MECHANISMS)[number], username: o.saslUsername, password: o.saslPassword };
}
