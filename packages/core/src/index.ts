export { ERRNO, ShylockError, isShylockError, isErrorCode, toShylockError, abortError, connectionFailure } from './errors.js';
export type { ErrorCode, ShylockErrorOptions } from './errors.js';
export {
  normalizePath,
  splitPath,
  joinPath,
  parentPath,
  baseName,
  isUnder,
  hasRawBytes,
  nameBytes,
  nameByteLength,
  nameFromBytes,
  NAME_MAX,
  PATH_MAX,
} from './path.js';
export { O, parseOpenFlags, isMutating } from './flags.js';
export { ByteBuffer, checkOffset } from './bytes.js';
export { createBufferedHandle, openValueFile } from './handle.js';
export type { BufferedHandleOptions, ValueFileOptions } from './handle.js';
export { createInbox, createStreamHandle } from './stream.js';
export { dirStat, streamStat } from './stats.js';
export type { Inbox, StreamHandleOptions } from './stream.js';
export {
  defineBackend,
  guardHandle,
  GUARDED,
  MUTATING_CAPABILITIES,
  NO_CAPABILITIES,
  FILE_TREE_CAPABILITIES,
  POSIX_CAPABILITIES,
} from './define.js';
export { forward, readOnly } from './layers.js';
export type { ForwardOptions, Overrides } from './layers.js';
export { optionHelp, optionsFrom, parseBoolean, parseCount, parseList, parseSize, SIZE_UNITS, timeoutOption } from './options.js';
export type { OptionDecl } from './options.js';
export { BACKEND_METHODS, MUTATING_METHODS, PATH_METHODS } from './methods.js';
export type { BackendMethod, ComposeAnswer, MethodRow } from './methods.js';
export { compose } from './compose.js';
export { STAT_CONTENT_MAX } from './types.js';
export type { ComposeOptions } from './compose.js';
export type {
  Backend,
  BackendError,
  Capabilities,
  DirEntry,
  FileHandle,
  FileType,
  HostMknod,
  HostXattr,
  Layer,
  NativeFile,
  OpenFlags,
  OpenOptions,
  OpOptions,
  Stat,
  StatFs,
  StatOptions,
  SpilledLines,
  StreamSpill,
} from './types.js';
export type { AccessKind, AcquireOptions, Limits, QosBinding, QosPolicy, QosRule } from './qos.js';
