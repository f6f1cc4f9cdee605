import { connectionFailure, isShylockError, ShylockError } from '@shylock/core';

/**
 * The one place etcd3/gRPC errors become ShylockErrors: deadlines → ETIMEDOUT, an unreachable
 * cluster → EIO (retryable), an oversized request → EFBIG, anything else → EIO with the cause.
 */
export function etcdError(error: unknown, op: string, path: string, endpoints: string): ShylockError {
  if (isShylockError(error)) return error;
  const name = (error as { name?: string })?.name ?? '';
  const message = (error as Error)?.message ?? String(error);
  const ctx = { op, path, backend: 'etcd', cause: error };
  if (/DeadlineExceeded/i.test(name) || /deadline exceeded/i.test(message)) {
    return new ShylockError('ETIMEDOUT', `${op} ${path}: etcd at ${endpoints} did not answer in time`, ctx);
  }
  if (/request is too large|message larger than max/i.test(message)) {
    return new ShylockError('EFBIG', `${op} ${path}: etcd rejected the value as too large (${message}); raise --max-request-bytes`, ctx);
  }
  if (/Unavailable|ConnectFailed|ECONNREFUSED|No connection established|connect/i.test(name + ' ' + message)) {
    const why = connectionFailure(message) ?? message.replace(/\s*Resolution note:\s*\)?\s*$/, '');
    return new ShylockError('EIO', `${op} ${path}: etcd at ${endpoints} is unreachable: ${why} (--endpoints / ETC_HOSTS)`, {
      ...ctx,
      retryable: true,
    });
  }
  return new ShylockError('EIO', `${op} ${path}: etcd failed: ${message}`, ctx);
}
