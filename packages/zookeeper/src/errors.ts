import { isShylockError, ShylockError } from '@shylock/core';

/** node-zookeeper-client's Exception codes (the server's KeeperException codes). */
const CODES: Record<number, string> = {
  [-1]: 'SYSTEM_ERROR',
  [-4]: 'CONNECTION_LOSS',
  [-7]: 'OPERATION_TIMEOUT',
  [-8]: 'BAD_ARGUMENTS',
  [-101]: 'NO_NODE',
  [-102]: 'NO_AUTH',
  [-103]: 'BAD_VERSION',
  [-108]: 'NO_CHILDREN_FOR_EPHEMERALS',
  [-110]: 'NODE_EXISTS',
  [-111]: 'NOT_EMPTY',
  [-112]: 'SESSION_EXPIRED',
  [-114]: 'INVALID_ACL',
  [-115]: 'AUTH_FAILED',
};

interface ZkException {
  code?: number;
  name?: string;
  message?: string;
}

/**
 * The one place ZooKeeper errors become ShylockErrors: no node → ENOENT, node exists → EEXIST,
 * not empty → ENOTEMPTY, another client's change in between (bad version) → EIO saying so,
 * children under an ephemeral node → EPERM, ACLs and auth → EACCES, bad arguments → EINVAL,
 * a lost connection or session → EIO (retryable), anything else → EIO with the cause kept.
 */
export function zkError(error: unknown, op: string, path: string, where: string): ShylockError {
  if (isShylockError(error)) return error;
  const e = (error ?? {}) as ZkException;
  const name = typeof e.code === 'number' ? (CODES[e.code] ?? e.name ?? '') : (e.name ?? '');
  const ctx = { op, path, backend: 'zookeeper', cause: error };
  const what = `${op} ${path}`;
  switch (name) {
    case 'NO_NODE':
      return new ShylockError('ENOENT', `${what}: no such znode in ${where}`, ctx);
    case 'NODE_EXISTS':
      return new ShylockError('EEXIST', `${what}: the znode exists in ${where}`, ctx);
    case 'NOT_EMPTY':
      return new ShylockError('ENOTEMPTY', `${what}: the znode has children`, ctx);
    case 'BAD_VERSION':
      return new ShylockError(
        'EIO',
        `${what}: another client changed the znode since it was opened; nothing was overwritten (open it again)`,
        ctx,
      );
    case 'NO_CHILDREN_FOR_EPHEMERALS':
      return new ShylockError('EPERM', `${what}: an ephemeral znode can't have children`, ctx);
    case 'NO_AUTH':
    case 'AUTH_FAILED':
    case 'INVALID_ACL':
      return new ShylockError('EACCES', `${what}: ${where} refused it (${name}): check the znode's ACL and the credentials`, ctx);
    case 'BAD_ARGUMENTS':
      return new ShylockError('EINVAL', `${what}: ${where} refused the arguments (${name})`, ctx);
    case 'CONNECTION_LOSS':
    case 'SESSION_EXPIRED':
      return new ShylockError('EIO', `${what}: the connection to ${where} was lost (${name}); try again`, { ...ctx, retryable: true });
    case 'OPERATION_TIMEOUT':
      return new ShylockError('ETIMEDOUT', `${what}: ${where} did not answer in time (--timeout)`, { ...ctx, retryable: true });
    default:
      return new ShylockError('EIO', `${what}: ${where} failed: ${e.message ?? String(error)}`, { ...ctx, retryable: false });
  }
}
