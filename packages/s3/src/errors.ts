import { connectionFailure, isShylockError, ShylockError } from '@shylock/core';

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/**
 * The one place S3 and SDK errors become ShylockErrors: 404/NoSuchKey → ENOENT, 403 → EACCES,
 * 412 (the object changed) → EIO, 429/503/SlowDown → EAGAIN (retryable), timeouts → ETIMEDOUT,
 * an object over the limit → EFBIG, a refused or dropped connection → EIO (retryable), anything
 * else → EIO with the cause kept. Messages say what to check.
 */
export function s3Error(error: unknown, op: string, key: string, where: string): ShylockError {
  if (isShylockError(error)) return error;
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const message = e.message && e.message !== 'UnknownError' ? e.message : `${name || 'error'}${status ? ` (HTTP ${status})` : ''}`;
  const what = `${op} ${key === '' ? '(bucket root)' : key}`;
  const ctx = { op, backend: 's3', cause: error };
  if (
    ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'XAdminUserNotFound'].includes(name) ||
    status === 403
  ) {
    return new ShylockError(
      'EACCES',
      `${what}: ${where} refused the request (${name || 'HTTP 403'}); check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the bucket policy`,
      ctx,
    );
  }
  if (name === 'NoSuchBucket') {
    return new ShylockError('ENOENT', `${what}: there is no such bucket at ${where}; check the bucket name and --endpoint / --region`, ctx);
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || status === 404) {
    return new ShylockError('ENOENT', `${what}: no such object in ${where}`, ctx);
  }
  if (name === 'CredentialsProviderError') {
    return new ShylockError(
      'EACCES',
      `${what}: no AWS credentials found (${message}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`,
      ctx,
    );
  }
  if (name === 'PreconditionFailed' || status === 412) {
    return new ShylockError('EIO', `${what}: the object changed in ${where} while it was open; open it again to read the new version`, ctx);
  }
  if (name === 'EntityTooLarge') return new ShylockError('EFBIG', `${what}: ${where} refused the object as too large (${message})`, ctx);
  if (
    ['SlowDown', 'Throttling', 'ThrottlingException', 'ServiceUnavailable', 'RequestLimitExceeded'].includes(name) ||
    status === 429 ||
    status === 503
  ) {
    return new ShylockError('EAGAIN', `${what}: ${where} asks to slow down (${name || `HTTP ${status}`}); try again`, {
      ...ctx,
      retryable: true,
    });
  }
  const system = `${e.code ?? ''} ${name} ${message}`;
  if (/TimeoutError|RequestTimeout|ETIMEDOUT|timed? ?out/i.test(system)) {
    return new ShylockError('ETIMEDOUT', `${what}: ${where} did not answer in time (--timeout)`, { ...ctx, retryable: true });
  }
  const why = connectionFailure(system);
  if (why || /EPIPE|ECONNABORTED|socket/i.test(system)) {
    return new ShylockError('EIO', `${what}: ${where} is unreachable: ${why ?? message} (--endpoint)`, { ...ctx, retryable: true });
  }
  if (name === 'InvalidBucketName' || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
    return new ShylockError('EINVAL', `${what}: ${where} says ${name}: ${message} (check the bucket name and --region)`, ctx);
  }
  return new ShylockError('EIO', `${what}: ${where} failed: ${message}`, { ...ctx, retryable: e.$retryable !== undefined });
}
