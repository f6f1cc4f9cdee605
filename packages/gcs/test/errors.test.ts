import { describe, expect, it } from 'vitest';
import { gcsError } from '../src/index.js';

// The mapping table itself, over errors shaped as the client throws them (ApiError with the HTTP
// status as `code`, a Node system error for a dropped connection). Real-server cases are in
// mount.test.ts.
const api = (code: number, message = `HTTP ${code}`, reason?: string) =>
  Object.assign(new Error(message), { code, ...(reason ? { errors: [{ reason, message }] } : {}) });
const where = 'gs://b at http://127.0.0.1:4443';

describe('gcsError', () => {
  it.each([
    [api(404, 'No such object: b/a/b'), 'ENOENT', false],
    [api(403, 'caller does not have storage.objects.get access'), 'EACCES', false],
    [api(401, 'Invalid Credentials'), 'EACCES', false],
    [api(412, 'At least one of the pre-conditions you specified did not hold.'), 'EIO', false],
    [api(413, 'Payload too large'), 'EFBIG', false],
    [api(429, 'rate limited', 'rateLimitExceeded'), 'EAGAIN', true],
    [api(503, 'Backend Error'), 'EAGAIN', true],
    [api(500, 'Internal Error'), 'EAGAIN', true],
    [api(400, 'Invalid argument'), 'EINVAL', false],
    [Object.assign(new Error('no answer in 30000 ms'), { code: 'ETIMEDOUT' }), 'ETIMEDOUT', true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4443'), { code: 'ECONNREFUSED' }), 'EIO', true],
    [new Error('Could not load the default credentials. Browse to the docs for more information.'), 'EACCES', false],
    [api(409, 'conflict'), 'EIO', false],
  ] as const)('%s → %s', (error, code, retryable) => {
    const e = gcsError(error, 'read', 'a/b', where);
    expect(e.code).toBe(code);
    expect(e.retryable).toBe(retryable);
    expect(e.cause).toBe(error);
    expect(e.message).toContain('read a/b');
    expect(e.message.split('\n')).toHaveLength(1);
  });
  it('says what to check: the bucket, the credentials, the endpoint', () => {
    expect(gcsError(api(404, 'Not Found'), 'list', '', where).message).toMatch(/no such bucket .*--endpoint/);
    expect(gcsError(api(403, 'Forbidden'), 'read', 'k', where).message).toMatch(/--key-file, GOOGLE_APPLICATION_CREDENTIALS/);
    expect(gcsError(new Error('Could not load the default credentials.'), 'list', '', where).message).toMatch(
      /no usable Google credentials .*application-default login/,
    );
    expect(gcsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'read', 'k', where).message).toMatch(
      /unreachable: the connection was refused .*--endpoint/,
    );
  });
});
