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
 * The one place SQS and SDK errors become ShylockErrors: no such queue → ENOENT, a queue that
 * exists with other attributes → EEXIST, refused credentials → EACCES, a queue deleted less than
 * a minute ago or throttling → EAGAIN, a body SQS refuses → EINVAL, a batch over the size limit →
 * EFBIG, timeouts → ETIMEDOUT, a server that can't be reached → EIO (retryable), anything else →
 * EIO with the cause kept. Messages say what to check.
 */
export function sqsError(error: unknown, op: string, path: string, where: string): ShylockError {
  if (isShylockError(error)) return error;
  const e = (error ?? {}) as SdkError;
  const name = (e.name ?? e.Code ?? '').replace(/^AWS\.SimpleQueueService\./, '');
  const status = e.$metadata?.httpStatusCode;
  const message = e.message && e.message !== 'UnknownError' ? e.message : `${name || 'error'}${status ? ` (HTTP ${status})` : ''}`;
  const what = `${op} ${path}`;
  const ctx = { op, path, backend: 'sqs', cause: error };
  if (name === 'QueueDoesNotExist' || name === 'NonExistentQueue') {
    return new ShylockError('ENOENT', `${what}: no such queue at ${where}`, ctx);
  }
  if (name === 'QueueNameExists' || name === 'QueueAlreadyExists') {
    return new ShylockError('EEXIST', `${what}: the queue exists at ${where} with other attributes`, ctx);
  }
  if (name === 'QueueDeletedRecently') {
    return new ShylockError('EAGAIN', `${what}: a queue of that name was deleted less than 60 s ago; SQS makes it again only after that`, {
      ...ctx,
      retryable: true,
    });
  }
  if (
    [
      'InvalidClientTokenId',
      'SignatureDoesNotMatch',
      'AccessDenied',
      'AccessDeniedException',
      'ExpiredToken',
      'UnrecognizedClientException',
    ].includes(name) ||
    status === 403
  ) {
    return new ShylockError(
      'EACCES',
      `${what}: ${where} refused the request (${name || 'HTTP 403'}); check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the queue policy`,
      ctx,
    );
  }
  if (name === 'CredentialsProviderError') {
    return new ShylockError(
      'EACCES',
      `${what}: no AWS credentials found (${message}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`,
      ctx,
    );
  }
  if (name === 'InvalidMessageContents') {
    return new ShylockError('EINVAL', `${what}: SQS refused a line's characters (${message}); a message body must be text`, ctx);
  }
  if (name === 'BatchRequestTooLong' || name === 'RequestEntityTooLarge' || status === 413) {
    return new ShylockError('EFBIG', `${what}: ${where} refused the request as too large (${message})`, ctx);
  }
  if (['OverLimit', 'RequestThrottled', 'ThrottlingException', 'KmsThrottled'].includes(name) || status === 429 || status === 503) {
    return new ShylockError('EAGAIN', `${what}: ${where} asks to slow down (${name || `HTTP ${status}`}); try again`, {
      ...ctx,
      retryable: true,
    });
  }
  if (
    name === 'InvalidParameterValue' ||
    name === 'InvalidAttributeName' ||
    name === 'InvalidAttributeValue' ||
    name === 'ValidationException'
  ) {
    return new ShylockError('EINVAL', `${what}: ${where} says ${name}: ${message}`, ctx);
  }
  const system = `${e.code ?? ''} ${name} ${message}`;
  if (/TimeoutError|RequestTimeout|ETIMEDOUT|timed? ?out/i.test(system)) {
    return new ShylockError('ETIMEDOUT', `${what}: ${where} did not answer in time (--timeout)`, { ...ctx, retryable: true });
  }
  const why = connectionFailure(system);
  if (why || /EPIPE|ECONNABORTED|socket/i.test(system)) {
    return new ShylockError('EIO', `${what}: ${where} is unreachable: ${why ?? message} (--endpoint)`, { ...ctx, retryable: true });
  }
  return new ShylockError('EIO', `${what}: ${where} failed: ${message}`, { ...ctx, retryable: e.$retryable !== undefined });
}
