import { connectionFailure, isShylockError, ShylockError } from '@shylock/core';

/**
 * The one place ioredis/Redis errors become ShylockErrors: timeouts → ETIMEDOUT, a lost or
 * refused connection → EIO (retryable), bad credentials → EACCES, out of memory → ENOSPC, a value
 * over the server's limit → EFBIG, anything else → EIO with the cause kept.
 */
export function redisError(error: unknown, op: string, path: string, where: string, connection?: Error): ShylockError {
  if (isShylockError(error)) return error;
  const name = (error as { name?: string })?.name ?? '';
  const message = (error as Error)?.message ?? String(error);
  const ctx = { op, path, backend: 'redis', cause: error };
  if (/Command timed out|ETIMEDOUT/i.test(message)) {
    return new ShylockError('ETIMEDOUT', `${op} ${path}: Redis at ${where} did not answer in time`, { ...ctx, retryable: true });
  }
  if (/NOAUTH|WRONGPASS|NOPERM|invalid password/i.test(message)) {
    return new ShylockError('EACCES', `${op} ${path}: Redis at ${where} refused the credentials (${message}); check REDIS_PASSWORD`, ctx);
  }
  if (/^OOM /.test(message)) {
    return new ShylockError('ENOSPC', `${op} ${path}: Redis at ${where} is out of memory (maxmemory): ${message}`, ctx);
  }
  if (/exceeds maximum allowed size|proto-max-bulk-len|Protocol error: invalid bulk length/i.test(message)) {
    return new ShylockError('EFBIG', `${op} ${path}: Redis refused the value as too large (${message}); raise proto-max-bulk-len`, ctx);
  }
  if (/READONLY/.test(message)) {
    return new ShylockError('EROFS', `${op} ${path}: Redis at ${where} is a read-only replica`, ctx);
  }
  if (
    name === 'MaxRetriesPerRequestError' ||
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|Connection is closed|Stream isn't writeable|connect/i.test(message)
  ) {
    // ioredis reports "max retries" for a command; why the connection failed is its last error.
    const why =
      connectionFailure(`${connection?.message ?? ''} ${message}`) ??
      (name === 'MaxRetriesPerRequestError' ? 'it connected but got no Redis answer (is that port a Redis server?)' : message);
    return new ShylockError('EIO', `${op} ${path}: Redis at ${where} is unreachable: ${why} (--host / REDIS_HOST)`, {
      ...ctx,
      retryable: true,
    });
  }
  return new ShylockError('EIO', `${op} ${path}: Redis failed: ${message}`, ctx);
}
