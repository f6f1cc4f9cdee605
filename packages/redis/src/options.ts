import { type OptionDecl, optionsFrom, ShylockError, timeoutOption } from '@shylock/core';
import type { RedisOptions } from 'ioredis';

/** Options of {@link redisBackend}. */
export interface RedisBackendOptions {
  /**
   * Where the server is: `host:port`, `host`, or a `redis://[:password@]host:port/db` URL.
   * Default `$REDIS_HOST` or `localhost:6379`.
   */
  host?: string;
  /** Default `$REDIS_PASSWORD`. */
  password?: string;
  /** Database number. Default `$REDIS_DB` or 0. */
  db?: number;
  /**
   * Prepended to every key, channel, stream and queue name (`'app:'` mounts only the `app:`
   * keys). Default none.
   */
  prefix?: string;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /** Milliseconds before a command answers ETIMEDOUT (default 3000). */
  timeoutMs?: number;
  /** Largest value or message written; larger ones reject EFBIG (default 512 MiB, Redis's limit). */
  maxValueBytes?: number;
  /** Messages a pub/sub reader may fall behind before the oldest are dropped (default 10,000). */
  backlog?: number;
  /** Extra ioredis options (TLS, username, sentinels …). */
  client?: Partial<RedisOptions>;
}

/** Redis's options: the factory, its environment and the `shylock redis` flags read them from here. */
export const REDIS_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'host',
    flag: 'host',
    env: 'REDIS_HOST',
    type: 'string',
    value: '<host:port>',
    default: 'localhost:6379',
    help: 'the server, or a redis:// URL',
  },
  { key: 'password', flag: 'password', env: 'REDIS_PASSWORD', type: 'string', value: '<secret>', help: 'AUTH password' },
  {
    key: 'db',
    flag: 'db',
    env: 'REDIS_DB',
    type: 'string',
    value: '<n>',
    default: '0',
    help: 'database number',
    parse: (text, from) => {
      if (!/^\d+$/.test(text.trim())) throw new ShylockError('EINVAL', `${from} must be a database number, got "${text}"`);
      return Number(text.trim());
    },
  },
  {
    key: 'prefix',
    flag: 'prefix',
    type: 'string',
    value: '<text>',
    help: 'mount only the keys, channels, streams and queues starting with it',
  },
  timeoutOption('a command'),
];

/** Redis's own limit on one string value (proto-max-bulk-len). */
export const REDIS_MAX_VALUE_BYTES = 512 * 1024 * 1024;

export interface ResolvedOptions {
  connection: RedisOptions;
  where: string;
  prefix: string;
  readOnly: boolean;
  timeoutMs: number;
  maxValueBytes: number;
  backlog: number;
}

const invalid = (message: string) => new ShylockError('EINVAL', `redisBackend: ${message}`);

/** Validates the options and fills in the environment's defaults. Throws EINVAL naming the option. */
export function resolveOptions(options: RedisBackendOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  // What the caller left out comes from the environment, as REDIS_OPTIONS declares it.
  let fromEnv: Record<string, unknown>;
  try {
    fromEnv = optionsFrom(REDIS_OPTIONS, options as Record<string, unknown>, {}, env);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const hostText = ((options.host ?? fromEnv.host ?? 'localhost:6379') as string).trim();
  let host: string;
  let port = 6379;
  let password = options.password ?? (fromEnv.password as string | undefined);
  let db: number | undefined = options.db;
  if (/^rediss?:\/\//.test(hostText)) {
    let url: URL;
    try {
      url = new URL(hostText);
    } catch {
      throw invalid(`"${hostText}" is not a valid redis:// URL`);
    }
    host = url.hostname;
    if (url.port) port = Number(url.port);
    if (url.password) password ??= decodeURIComponent(url.password);
    const path = url.pathname.replace(/^\//, '');
    if (path) db ??= Number(path);
  } else {
    const m = /^(\[[^\]]+\]|[^:\s/]+)(?::(\d+))?$/.exec(hostText);
    if (!m) throw invalid(`"${hostText}" is not a host such as localhost:6379 (REDIS_HOST)`);
    host = m[1]!.replace(/^\[|\]$/g, '');
    if (m[2]) port = Number(m[2]);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`the port of "${hostText}" must be 1 to 65535`);
  // A database in the URL wins over REDIS_DB.
  db ??= fromEnv.db as number | undefined;
  if (db !== undefined && (!Number.isInteger(db) || db < 0)) throw invalid(`db must be a database number (0, 1, …), got ${db}`);
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxValueBytes = options.maxValueBytes ?? REDIS_MAX_VALUE_BYTES;
  const backlog = options.backlog ?? 10_000;
  for (const [k, v] of [
    ['timeoutMs', timeoutMs],
    ['maxValueBytes', maxValueBytes],
    ['backlog', backlog],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw invalid(`${k} must be a positive number, got ${v}`);
  }
  const prefix = options.prefix ?? '';
  if (prefix.includes('\0')) throw invalid('prefix must not contain NUL');
  return {
    connection: {
      host,
      port,
      ...(password ? { password } : {}),
      ...(db ? { db } : {}),
      lazyConnect: true,
      // Fail fast and tell the caller; reconnect in the background so work resumes by itself.
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
      enableAutoPipelining: true,
      ...options.client,
    },
    where: `${host}:${port}`,
    prefix,
    readOnly: options.readOnly ?? false,
    timeoutMs,
    maxValueBytes,
    backlog,
  };
}
