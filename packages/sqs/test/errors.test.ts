import { describe, expect, it } from 'vitest';
import { sqsError } from '../src/index.js';

const where = 'SQS at http://127.0.0.1:9324';
const code = (error: unknown) => sqsError(error, 'open', '/jobs', where).code;

describe('sqsError', () => {
  it('maps what SQS and the SDK say to POSIX codes with a message that says what to check', () => {
    expect(code({ name: 'QueueDoesNotExist' })).toBe('ENOENT');
    expect(code({ name: 'AWS.SimpleQueueService.NonExistentQueue' })).toBe('ENOENT');
    expect(code({ name: 'QueueNameExists' })).toBe('EEXIST');
    expect(code({ name: 'QueueDeletedRecently' })).toBe('EAGAIN');
    expect(code({ name: 'InvalidClientTokenId' })).toBe('EACCES');
    expect(code({ name: 'InvalidMessageContents' })).toBe('EINVAL');
    expect(code({ name: 'BatchRequestTooLong' })).toBe('EFBIG');
    expect(code({ name: 'OverLimit' })).toBe('EAGAIN');
    expect(code({ name: 'TimeoutError', message: 'Connection timed out after 1000 ms' })).toBe('ETIMEDOUT');
    expect(code({ name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9324' })).toBe('EIO');
    expect(code({ name: 'Strange', message: 'something else' })).toBe('EIO');
    const refused = sqsError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'list', '/', where);
    expect(refused.message).toBe(
      `list /: ${where} is unreachable: the connection was refused (is the server running on that port?) (--endpoint)`,
    );
    expect(refused.retryable).toBe(true);
    expect(sqsError({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, 'open', '/jobs', where).message).toMatch(
      /check the credentials \(AWS_ACCESS_KEY_ID/,
    );
  });
});
