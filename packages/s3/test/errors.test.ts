import { describe, expect, it } from 'vitest';
import { s3Error } from '../src/index.js';

// The mapping table itself, over errors shaped as the SDK throws them (name, $metadata.httpStatusCode,
// a Node system error for a dropped connection). Real-server cases are in mount.test.ts.
const sdk = (name: string, status?: number, message = name) =>
  Object.assign(new Error(message), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }) });
const where = 's3://b at http://127.0.0.1:9000';

describe('s3Error', () => {
  it.each([
    [sdk('NoSuchKey', 404), 'ENOENT', false],
    [sdk('NotFound', 404), 'ENOENT', false],
    [sdk('NoSuchBucket', 404), 'ENOENT', false],
    [sdk('AccessDenied', 403), 'EACCES', false],
    [sdk('InvalidAccessKeyId', 403), 'EACCES', false],
    [sdk('SignatureDoesNotMatch', 403), 'EACCES', false],
    [sdk('PreconditionFailed', 412), 'EIO', false],
    [sdk('SlowDown', 503), 'EAGAIN', true],
    [sdk('TooManyRequests', 429), 'EAGAIN', true],
    [sdk('ServiceUnavailable', 503), 'EAGAIN', true],
    [sdk('TimeoutError', undefined, 'Connection timed out after 30000 ms'), 'ETIMEDOUT', true],
    [sdk('RequestTimeout', 400), 'ETIMEDOUT', true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' }), 'EIO', true],
    [sdk('EntityTooLarge', 400), 'EFBIG', false],
    [sdk('InternalError', 500, 'We encountered an internal error'), 'EIO', false],
  ] as const)('%s → %s', (error, code, retryable) => {
    const e = s3Error(error, 'read', 'a/b', where);
    expect(e.code).toBe(code);
    expect(e.retryable).toBe(retryable);
    expect(e.cause).toBe(error);
    expect(e.message).toContain('read a/b');
    expect(e.message.split('\n')).toHaveLength(1);
  });
  it('says what to check: the bucket, the credentials, the endpoint', () => {
    expect(s3Error(sdk('NoSuchBucket', 404), 'list', '', where).message).toMatch(/no such bucket .*--endpoint/);
    expect(s3Error(sdk('AccessDenied', 403), 'read', 'k', where).message).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(s3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'read', 'k', where).message).toMatch(
      /unreachable: the connection was refused .*--endpoint/,
    );
  });
});
