import { connectionFailure, isShylockError, ShylockError } from '@shylock/core';

interface KafkaJsError {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  originalError?: KafkaJsError;
  cause?: KafkaJsError;
}

/** kafkajs wraps the error that mattered: the innermost one says what the broker said. */
const innermost = (e: KafkaJsError): KafkaJsError => {
  let at = e;
  for (let i = 0; i < 5 && (at.originalError ?? at.cause); i++) at = (at.originalError ?? at.cause)!;
  return at;
};

/**
 * The one place kafkajs and broker errors become ShylockErrors: an unknown topic → ENOENT, one
 * that exists → EEXIST, refused credentials or ACLs → EACCES, a message over the broker's limit →
 * EFBIG, a bad topic name → EINVAL, deletion turned off on the brokers → EPERM, timeouts →
 * ETIMEDOUT, brokers that can't be reached → EIO (retryable), anything else → EIO with the cause.
 */
export function kafkaError(error: unknown, op: string, path: string, where: string): ShylockError {
  if (isShylockError(error)) return error;
  const outer = (error ?? {}) as KafkaJsError;
  const inner = innermost(outer);
  const type = inner.type ?? outer.type ?? '';
  const message = (inner.message ?? outer.message ?? String(error)).split('\n')[0]!;
  const what = `${op} ${path}`;
  const ctx = { op, path, backend: 'kafka', cause: error };
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition|This server does not host/i.test(message)) {
    return new ShylockError('ENOENT', `${what}: no such topic at ${where}`, ctx);
  }
  if (type === 'TOPIC_ALREADY_EXISTS') return new ShylockError('EEXIST', `${what}: the topic already exists at ${where}`, ctx);
  if (
    /AUTHORIZATION_FAILED|SASL_AUTHENTICATION_FAILED|ILLEGAL_SASL_STATE|UNSUPPORTED_SASL_MECHANISM/.test(type) ||
    /SASL/i.test(inner.name ?? '')
  ) {
    return new ShylockError('EACCES', `${what}: the brokers at ${where} refused (${message}); check --sasl-* and the topic's ACLs`, ctx);
  }
  if (/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(type)) {
    return new ShylockError('EFBIG', `${what}: a message is over the brokers' limit (message.max.bytes): ${message}`, ctx);
  }
  if (/INVALID_TOPIC_EXCEPTION|INVALID_PARTITIONS|INVALID_REPLICATION_FACTOR/.test(type)) {
    return new ShylockError('EINVAL', `${what}: the brokers refused it: ${message}`, ctx);
  }
  if (type === 'TOPIC_DELETION_DISABLED') {
    return new ShylockError('EPERM', `${what}: the brokers do not delete topics (delete.topic.enable=false)`, ctx);
  }
  const names = `${outer.name ?? ''} ${inner.name ?? ''} ${type} ${message}`;
  if (/KafkaJSRequestTimeoutError|REQUEST_TIMED_OUT|ETIMEDOUT|timed? ?out/i.test(names)) {
    return new ShylockError('ETIMEDOUT', `${what}: the brokers at ${where} did not answer in time (--timeout)`, {
      ...ctx,
      retryable: true,
    });
  }
  const why = connectionFailure(names);
  if (
    why ||
    /KafkaJSConnectionError|KafkaJSNonRetriableError|KafkaJSNumberOfRetriesExceeded|KafkaJSBrokerNotFound|Connection|ECONN/i.test(names)
  ) {
    return new ShylockError('EIO', `${what}: the brokers at ${where} are unreachable: ${why ?? message} (--brokers / KAFKA_BROKERS)`, {
      ...ctx,
      retryable: true,
    });
  }
  return new ShylockError('EIO', `${what}: ${where} failed: ${message}`, { ...ctx, retryable: inner.retriable === true });
}
