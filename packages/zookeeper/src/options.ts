import { parseCount, parseList, ShylockError, timeoutOption, type OptionDecl } from '@shylock/core';

/** Options of {@link zookeeperBackend}. */
export interface ZooKeeperBackendOptions {
  /** Servers, `host:port` each (default `$ZK_HOSTS`, else `127.0.0.1:2181`). */
  connect?: string[] | string;
  /** Mount the znodes under this path as the root (it must exist), e.g. `/apps`. */
  prefix?: string;
  /** The session's timeout, ms (default 10000): ephemeral znodes outlive a lost connection this long. */
  sessionTimeoutMs?: number;
  /** Milliseconds a request may wait before it fails (default 5000): EIO while the servers are away. */
  timeoutMs?: number;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
}

/** ZooKeeper's options: the factory, its environment and the `shylock zookeeper` flags read them from here. */
export const ZOOKEEPER_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'connect',
    flag: 'connect',
    env: 'ZK_HOSTS',
    type: 'string',
    value: '<host:port,…>',
    default: '127.0.0.1:2181',
    help: 'the servers of the ensemble, comma-separated',
    parse: (text) => parseList(text),
  },
  {
    key: 'prefix',
    flag: 'prefix',
    type: 'string',
    value: '</path>',
    help: 'mount only the znodes under this path (it must exist), e.g. /apps',
  },
  {
    key: 'sessionTimeoutMs',
    flag: 'session-timeout',
    type: 'string',
    value: '<ms>',
    default: '10000',
    help: "the session's timeout: ephemeral znodes outlive a lost connection this long",
    parse: (text, from) => {
      const n = parseCount(text, from);
      if (n < 1000) throw new ShylockError('EINVAL', `${from} must be at least 1000 ms, got "${text}"`);
      return n;
    },
  },
  timeoutOption('a request to ZooKeeper', 5000),
];
