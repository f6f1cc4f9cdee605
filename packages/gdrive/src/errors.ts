import { isShylockError, ShylockError } from '@shylock/core';

/** What a failed Drive request carries: gaxios errors, or our own raw requests' errors. */
interface DriveFailure {
  status?: number;
  code?: number | string;
  message?: string;
  response?: {
    status?: number;
    data?: { error?: string | { message?: string; errors?: { reason?: string }[] }; error_description?: string };
  };
  errors?: { reason?: string }[];
}

/** The HTTP status and Drive's reason of a failure, where it has them. */
export function statusOf(error: unknown): { status?: number; reason?: string } {
  const e = (error ?? {}) as DriveFailure;
  const status = e.response?.status ?? e.status ?? (typeof e.code === 'number' ? e.code : undefined);
  const body = e.response?.data?.error;
  const reason = (typeof body === 'string' ? body : body?.errors?.[0]?.reason) ?? e.errors?.[0]?.reason;
  return { ...(status === undefined ? {} : { status }), ...(reason === undefined ? {} : { reason }) };
}

const RATE_REASONS = new Set(['userRateLimitExceeded', 'rateLimitExceeded', 'sharingRateLimitExceeded']);

/** Whether a failure is worth another try: throttled (429, 403 rate limits) or a server error. */
export function retryable(error: unknown): boolean {
  const { status, reason } = statusOf(error);
  return status === 429 || (status === 403 && RATE_REASONS.has(reason ?? '')) || (status !== undefined && status >= 500);
}

/**
 * The one place Drive errors become ShylockErrors: 404 → ENOENT, 401 → EACCES naming the
 * credentials, rate limits → EAGAIN (after the retries), other 403 → EACCES, 400 → EINVAL,
 * 5xx → EIO, timeouts → ETIMEDOUT, a refused connection → EIO naming the endpoint.
 */
export function driveError(error: unknown, op: string, path: string, where: string, credentials: string): ShylockError {
  if (isShylockError(error)) return error;
  const e = (error ?? {}) as DriveFailure;
  const { status, reason } = statusOf(error);
  const body = e.response?.data?.error;
  const detail =
    ((typeof body === 'string' ? e.response?.data?.error_description : body?.message) ?? e.message ?? String(error)).split('\n')[0] ?? '';
  const ctx = { op, path, backend: 'gdrive', cause: error };
  const what = `${op} ${path}`;
  const code = typeof e.code === 'string' ? e.code : (e as { cause?: { code?: string } }).cause?.code;
  if ((typeof code === 'string' && code.startsWith('ERR_OSSL')) || /DECODER routines|PEM|private key/i.test(detail)) {
    return new ShylockError(
      'EACCES',
      `${what}: the private key in ${credentials} can't sign (${detail}): use the key file as Google gave it`,
      ctx,
    );
  }
  // The OAuth token endpoint refused the refresh token (or the client) of a token file.
  if (reason === 'invalid_grant' || reason === 'invalid_client') {
    return new ShylockError(
      'EACCES',
      `${what}: the OAuth token in ${credentials} was refused (${detail}): sign in again (e.g. gcloud auth application-default login) or check --credentials`,
      ctx,
    );
  }
  if (status === 404) return new ShylockError('ENOENT', `${what}: no such file in ${where}`, ctx);
  if (status === 401) {
    return new ShylockError(
      'EACCES',
      `${what}: ${where} refused the credentials in ${credentials} (${detail}): make a new key or token, or check --credentials`,
      ctx,
    );
  }
  if (status === 429 || (status === 403 && RATE_REASONS.has(reason ?? ''))) {
    return new ShylockError('EAGAIN', `${what}: ${where} is limiting the request rate (${reason ?? status}); try again later`, {
      ...ctx,
      retryable: true,
    });
  }
  if (status === 403) return new ShylockError('EACCES', `${what}: ${where} refused it (${reason ?? detail})`, ctx);
  if (status === 400) return new ShylockError('EINVAL', `${what}: ${where} refused the request (${detail})`, ctx);
  if (status !== undefined && status >= 500)
    return new ShylockError('EIO', `${what}: ${where} failed (${status} ${detail})`, { ...ctx, retryable: true });
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR' || /timeout|timed out/i.test(detail)) {
    return new ShylockError('ETIMEDOUT', `${what}: ${where} did not answer in time (--timeout)`, { ...ctx, retryable: true });
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET' || /ECONNREFUSED|ENOTFOUND|ECONNRESET/.test(detail)) {
    return new ShylockError('EIO', `${what}: ${where} is unreachable (${code ?? detail}); is it running? (--endpoint)`, {
      ...ctx,
      retryable: true,
    });
  }
  return new ShylockError('EIO', `${what}: ${where} failed: ${detail}`, ctx);
}
