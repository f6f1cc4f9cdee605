import { connectionFailure, isShylockError, ShylockError } from '@shylock/core';

interface GcsApiError {
  name?: string;
  /** The HTTP status (ApiError, GaxiosError), or a system error's code (`ECONNREFUSED`). */
  code?: number | string;
  status?: number;
  message?: string;
  errors?: { reason?: string; message?: string }[];
}

/**
 * The one place Cloud Storage and client errors become ShylockErrors: 404 → ENOENT (a missing
 * bucket says so), 401/403 → EACCES, 412 (a generation precondition failed) → EIO, 413 → EFBIG,
 * 429/5xx → EAGAIN (retryable), timeouts → ETIMEDOUT, a refused or dropped connection → EIO
 * (retryable), anything else → EIO with the cause kept. Messages say what to check.
 */
export function gcsError(error: unknown, op: string, key: string, where: string): ShylockError {
  if (isShylockError(error)) return error;
  const e = (error ?? {}) as GcsApiError;
  const status = typeof e.code === 'number' ? e.code : e.status;
  const reason = e.errors?.[0]?.reason ?? '';
  const message = (e.message ?? '').split('\n')[0] || (status ? `HTTP ${status}` : 'error');
  const what = `${op} ${key === '' ? '(bucket root)' : key}`;
  const ctx = { op, backend: 'gcs', cause: error };
  if (/Could not load the default credentials|invalid_grant|Could not refresh access token|ENOENT.*\.json/i.test(message)) {
    return new ShylockError(
      'EACCES',
      `${what}: no usable Google credentials (${message.slice(0, 120)}); give --key-file, set GOOGLE_APPLICATION_CREDENTIALS, or run gcloud auth application-default login`,
      ctx,
    );
  }
  if (status === 401 || status === 403) {
    return new ShylockError(
      'EACCES',
      `${what}: ${where} refused the request (${message}); check the credentials (--key-file, GOOGLE_APPLICATION_CREDENTIALS or gcloud's application default login) and the bucket's IAM`,
      ctx,
    );
  }
  if (status === 404) {
    if (op === 'list' || /bucket/i.test(message)) {
      return new ShylockError('ENOENT', `${what}: there is no such bucket at ${where}; check the bucket name and --endpoint`, ctx);
    }
    return new ShylockError('ENOENT', `${what}: no such object in ${where}`, ctx);
  }
  if (status === 412) {
    return new ShylockError('EIO', `${what}: the object changed in ${where} while it was open; open it again to read the new version`, ctx);
  }
  if (status === 413) return new ShylockError('EFBIG', `${what}: ${where} refused the object as too large (${message})`, ctx);
  if (status === 429 || (status !== undefined && status >= 500) || reason === 'rateLimitExceeded') {
    return new ShylockError('EAGAIN', `${what}: ${where} asks to slow down or is unavailable (${message}); try again`, {
      ...ctx,
      retryable: true,
    });
  }
  const system = `${typeof e.code === 'string' ? e.code : ''} ${e.name ?? ''} ${message}`;
  if (/TimeoutError|ETIMEDOUT|timed? ?out|AbortError/i.test(system)) {
    return new ShylockError('ETIMEDOUT', `${what}: ${where} did not answer in time (--timeout)`, { ...ctx, retryable: true });
  }
  const why = connectionFailure(system);
  if (why || /EPIPE|ECONNABORTED|socket|fetch failed/i.test(system)) {
    return new ShylockError('EIO', `${what}: ${where} is unreachable: ${why ?? message} (--endpoint)`, { ...ctx, retryable: true });
  }
  if (status === 400) return new ShylockError('EINVAL', `${what}: ${where} says the request is invalid: ${message}`, ctx);
  return new ShylockError('EIO', `${what}: ${where} failed: ${message}`, ctx);
}
