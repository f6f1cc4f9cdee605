import { parseBoolean, parseCount, ShylockError, timeoutOption, type OptionDecl } from '@shylock/core';

/** Options of {@link sqsBackend}. */
export interface SqsBackendOptions {
  /** An SQS-compatible server instead of AWS, e.g. `http://127.0.0.1:9324` (`$AWS_ENDPOINT_URL_SQS`). */
  endpoint?: string;
  /** The queues' region (default `$AWS_REGION`, else `us-east-1`). */
  region?: string;
  /** Seconds a read long-polls for messages per request, 0–20 (default 20). */
  waitSeconds?: number;
  /** The message group of lines written to a FIFO queue (default `shylock`). */
  groupId?: string;
  /** Visibility timeout, seconds, of queues made by creating their file (default: SQS's, 30). */
  visibilityTimeout?: number;
  /** More attributes of queues made by creating their file, e.g. `{ MessageRetentionPeriod: '3600' }`. */
  queueAttributes?: Record<string, string>;
  /** `rm` of a queue file deletes the queue (default: refused, EPERM). */
  allowDelete?: boolean;
  /** Milliseconds a request (beyond a read's long poll) may take before ETIMEDOUT (default 10000). */
  timeoutMs?: number;
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  /** More settings for the SQS client (credentials, a request handler …); they win. */
  client?: Record<string, unknown>;
}

/** `Name=value,Name=value` of `--queue-attributes`. */
function parseAttributes(text: string, from: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const at = t.indexOf('=');
    if (at <= 0) throw new ShylockError('EINVAL', `${from} must be Name=value pairs separated by commas, got "${text}"`);
    out[t.slice(0, at).trim()] = t.slice(at + 1).trim();
  }
  return out;
}

/** SQS's options: the factory, its environment and the `shylock sqs` flags read them from here. */
export const SQS_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'endpoint',
    flag: 'endpoint',
    env: 'AWS_ENDPOINT_URL_SQS',
    type: 'string',
    value: '<url>',
    help: 'an SQS-compatible server instead of AWS, e.g. http://127.0.0.1:9324',
  },
  { key: 'region', flag: 'region', env: 'AWS_REGION', type: 'string', value: '<region>', default: 'us-east-1', help: "the queues' region" },
  {
    key: 'waitSeconds',
    flag: 'wait-seconds',
    type: 'string',
    value: '<0-20>',
    default: '20',
    help: 'seconds one receive request long-polls (a read waits as long as it takes, in such requests)',
    parse: (text, from) => {
      const n = parseCount(text, from);
      if (n > 20) throw new ShylockError('EINVAL', `${from} must be 0 to 20 (SQS's longest poll), got "${text}"`);
      return n;
    },
  },
  {
    key: 'groupId',
    flag: 'group-id',
    type: 'string',
    value: '<id>',
    default: 'shylock',
    help: 'the message group of lines written to a FIFO queue',
  },
  {
    key: 'visibilityTimeout',
    flag: 'visibility-timeout',
    type: 'string',
    value: '<seconds>',
    help: 'visibility timeout of queues made by creating their file (default: 30)',
    parse: parseCount,
  },
  {
    key: 'queueAttributes',
    flag: 'queue-attributes',
    type: 'string',
    value: '<Name=value,…>',
    help: 'more attributes of queues made by creating their file, e.g. MessageRetentionPeriod=3600',
    parse: parseAttributes,
  },
  { key: 'allowDelete', flag: 'allow-delete', type: 'boolean', help: 'rm of a queue file deletes the queue', parse: parseBoolean },
  timeoutOption('a request to SQS', 10_000),
];
