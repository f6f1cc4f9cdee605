/**
 * Errors that cross the {@link Backend} boundary.
 *
 * Every failure a backend reports is a {@link ShylockError} with a POSIX `code`. The FUSE adapter
 * turns the code into the negative errno the kernel expects; library users branch on `code`
 * (never on message text) and may retry when `retryable` is true.
 */

/** Linux errno numbers for the codes shylock uses. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  EILSEQ: 84,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EDQUOT: 122,
  ECANCELED: 125,
} as const;

/** A POSIX error code understood by shylock. */
export type ErrorCode = keyof typeof ERRNO;

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'EAGAIN',
  'EBUSY',
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EHOSTUNREACH',
]);

/** Where an error happened, and what caused it. All fields are optional. */
export interface ShylockErrorOptions {
  /** The operation that failed: `'stat'`, `'open'`, `'read'`, `'acquire'` … */
  op?: string;
  /** The path the operation was called with. */
  path?: string;
  /** The backend's name (`Backend.name`). */
  backend?: string;
  /** The native error (SDK, system call) this error stands for. */
  cause?: unknown;
  /** Overrides the default: EAGAIN, EBUSY, ETIMEDOUT and connection errors are retryable. */
  retryable?: boolean;
}

/**
 * The one error class of shylock. `code` is a POSIX error code, `errno` its Linux number.
 *
 * Recognise it with {@link isShylockError} (by `name` and `code`), not `instanceof`: two copies
 * of `@shylock/core` in one program must still understand each other's errors.
 */
export class ShylockError extends Error {
  override readonly name = 'ShylockError';
  readonly code: ErrorCode;
  readonly errno: number;
  readonly retryable: boolean;
  readonly op: string | undefined;
  readonly path: string | undefined;
  readonly backend: string | undefined;

  constructor(code: ErrorCode, message: string, options: ShylockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = ERRNO[code];
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.op = options.op;
    this.path = options.path;
    this.backend = options.backend;
  }
}

/** True for a {@link ShylockError} from any copy of `@shylock/core`. */
export function isShylockError(value: unknown): value is ShylockError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === 'ShylockError' &&
    typeof (value as { code?: unknown }).code === 'string' &&
    (value as { code: string }).code in ERRNO
  );
}

/**
 * Why a connection to a server failed, in words a user can act on, from a client library's
 * message (ioredis, gRPC, the AWS and Google SDKs all embed the system's code): refused, no such
 * host, unreachable, reset, or `undefined` when the message says none of these.
 */
export function connectionFailure(message: string): string | undefined {
  if (/ECONNREFUSED|Connection refused/i.test(message)) return 'the connection was refused (is the server running on that port?)';
  if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME|Name resolution failed|getaddrinfo/i.test(message)) return 'no such host';
  if (/EHOSTUNREACH|ENETUNREACH|No route to host/i.test(message)) return 'the host cannot be reached';
  if (/ECONNRESET|socket hang up|RST_STREAM|Protocol error|unexpected|parse error/i.test(message)) {
    return 'the connection was dropped: is that port the right kind of server?';
  }
  return undefined;
}

/** True when `code` is one of the codes in {@link ERRNO}. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRNO, code);
}

/**
 * Turns anything thrown into a {@link ShylockError}. A ShylockError passes through (with `op`,
 * `path` and `backend` filled in from `options` where it had none); a Node
 * system error keeps its POSIX code (`ENOENT` from `fs` stays ENOENT); anything else becomes EIO
 * with the original kept as `cause`.
 */
export function toShylockError(error: unknown, options: ShylockErrorOptions = {}): ShylockError {
  if (isShylockError(error)) {
    const missing =
      (error.op === undefined && options.op !== undefined) ||
      (error.path === undefined && options.path !== undefined) ||
      (error.backend === undefined && options.backend !== undefined);
    if (!missing) return error;
    // Fill in where it happened, keeping everything the thrower said.
    return new ShylockError(error.code, error.message, {
      op: error.op ?? options.op,
      path: error.path ?? options.path,
      backend: error.backend ?? options.backend,
      cause: error.cause,
      retryable: error.retryable,
    });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (isErrorCode(code)) return new ShylockError(code, message, { ...options, cause: error });
  if ((error as { name?: unknown } | null)?.name === 'AbortError') {
    return new ShylockError('ECANCELED', 'the operation was aborted', { ...options, cause: error });
  }
  return new ShylockError('EIO', message, { ...options, cause: error });
}

/** The error an aborted operation rejects with: ECANCELED, with the signal's reason as cause. */
export function abortError(signal: AbortSignal, options: ShylockErrorOptions = {}): ShylockError {
  return new ShylockError('ECANCELED', 'the operation was aborted', { ...options, cause: signal.reason });
}
