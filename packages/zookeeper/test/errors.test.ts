import { describe, expect, it } from 'vitest';
import { zkError } from '../src/index.js';

const where = 'ZooKeeper at 127.0.0.1:2181';
const code = (error: unknown) => zkError(error, 'open', '/a', where).code;

describe('zkError', () => {
  it("maps ZooKeeper's exception codes to POSIX codes with a message that says what happened", () => {
    expect(code({ code: -101, name: 'NO_NODE' })).toBe('ENOENT');
    expect(code({ code: -110, name: 'NODE_EXISTS' })).toBe('EEXIST');
    expect(code({ code: -111, name: 'NOT_EMPTY' })).toBe('ENOTEMPTY');
    expect(code({ code: -108, name: 'NO_CHILDREN_FOR_EPHEMERALS' })).toBe('EPERM');
    expect(code({ code: -102, name: 'NO_AUTH' })).toBe('EACCES');
    expect(code({ code: -8, name: 'BAD_ARGUMENTS' })).toBe('EINVAL');
    expect(code({ code: -7, name: 'OPERATION_TIMEOUT' })).toBe('ETIMEDOUT');
    expect(code({ code: -4, name: 'CONNECTION_LOSS' })).toBe('EIO');
    expect(code(new Error('odd'))).toBe('EIO');
    const conflict = zkError({ code: -103, name: 'BAD_VERSION' }, 'write', '/a', where);
    expect(conflict.code).toBe('EIO');
    expect(conflict.message).toBe(
      'write /a: another client changed the znode since it was opened; nothing was overwritten (open it again)',
    );
    expect(zkError({ code: -112, name: 'SESSION_EXPIRED' }, 'open', '/a', where).retryable).toBe(true);
  });
});
