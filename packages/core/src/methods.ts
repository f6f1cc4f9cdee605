import type { Backend, Capabilities } from './types.js';

/** The Backend's methods (everything but its name, capabilities and nativeRoot). */
export type BackendMethod = Exclude<keyof Backend, 'name' | 'capabilities' | 'nativeRoot'>;

/** What compose answers when a method is called on one of its own directories. */
export type ComposeAnswer = 'EEXIST' | 'EISDIR' | 'EBUSY' | 'EPERM' | 'ENODATA' | 'EMPTY';

/** One row of {@link BACKEND_METHODS}: what every part of shylock needs to know of a method. */
export interface MethodRow {
  /** The arguments that are paths: normalised by defineBackend, routed by compose. */
  readonly paths: readonly number[];
  /** The path an error names and a QoS rule is looked up by (an index of `paths`' arguments). */
  readonly subject?: number;
  /** Changes data or metadata: readOnly answers EROFS, qosLayer charges one write operation. */
  readonly mutates: boolean;
  /** qosLayer charges one read operation for it (listing a directory). */
  readonly readOp?: boolean;
  /** The capability that promises it: where that capability is true, the method is there. */
  readonly capability?: keyof Capabilities;
  /** A method of extended attributes: a backend without it answers ENOTSUP (not ENOSYS). */
  readonly xattr?: boolean;
  /**
   * compose, on a mount point itself: the errno it answers (a member's root can't be made,
   * removed or renamed). Absent: the member's own root answers.
   */
  readonly atMount?: ComposeAnswer;
  /** compose, on a directory that only holds mounts: the errno it answers ('EMPTY': an empty answer). */
  readonly atVirtual?: ComposeAnswer;
}

/**
 * The one table of the Backend's methods. `defineBackend` (path checks), `readOnly` (EROFS),
 * `qosLayer` (what is charged), `compose` (routing and what its own directories answer), the
 * FUSE adapter (what clears cached listings) and the conformance suite (capability gates) all
 * derive from it: adding a method to `Backend` means adding its row here, and the compiler
 * refuses a Backend method without one.
 */
export const BACKEND_METHODS = {
  stat: { paths: [0], subject: 0, mutates: false },
  list: { paths: [0], subject: 0, mutates: false, readOp: true, capability: 'list' },
  open: { paths: [0], subject: 0, mutates: false },
  mkdir: { paths: [0], subject: 0, mutates: true, capability: 'directories', atMount: 'EEXIST', atVirtual: 'EEXIST' },
  unlink: { paths: [0], subject: 0, mutates: true, capability: 'unlink', atMount: 'EISDIR', atVirtual: 'EISDIR' },
  rmdir: { paths: [0], subject: 0, mutates: true, capability: 'directories', atMount: 'EBUSY', atVirtual: 'EBUSY' },
  rename: { paths: [0, 1], subject: 0, mutates: true, capability: 'rename', atMount: 'EPERM', atVirtual: 'EPERM' },
  truncate: { paths: [0], subject: 0, mutates: true, capability: 'truncate', atMount: 'EISDIR', atVirtual: 'EISDIR' },
  chmod: { paths: [0], subject: 0, mutates: true, capability: 'chmod', atVirtual: 'EPERM' },
  utimes: { paths: [0], subject: 0, mutates: true, capability: 'utimes', atVirtual: 'EPERM' },
  chown: { paths: [0], subject: 0, mutates: true, capability: 'chown', atVirtual: 'EPERM' },
  symlink: { paths: [1], subject: 1, mutates: true, capability: 'symlinks', atMount: 'EEXIST', atVirtual: 'EEXIST' },
  readlink: { paths: [0], subject: 0, mutates: false, capability: 'symlinks' },
  mknod: { paths: [0], subject: 0, mutates: true, capability: 'specialFiles', atMount: 'EEXIST', atVirtual: 'EEXIST' },
  link: { paths: [0, 1], subject: 1, mutates: true, capability: 'hardLinks', atMount: 'EPERM', atVirtual: 'EPERM' },
  copy: { paths: [0, 1], subject: 1, mutates: true, capability: 'copy', atMount: 'EPERM', atVirtual: 'EPERM' },
  getxattr: { paths: [0], subject: 0, mutates: false, capability: 'xattrs', xattr: true, atVirtual: 'ENODATA' },
  setxattr: { paths: [0], subject: 0, mutates: true, capability: 'xattrs', xattr: true, atVirtual: 'EPERM' },
  listxattr: { paths: [0], subject: 0, mutates: false, capability: 'xattrs', xattr: true, atVirtual: 'EMPTY' },
  removexattr: { paths: [0], subject: 0, mutates: true, capability: 'xattrs', xattr: true, atVirtual: 'ENODATA' },
  statfs: { paths: [], mutates: false },
  watch: { paths: [], mutates: false },
  close: { paths: [], mutates: false },
} as const satisfies Record<BackendMethod, MethodRow>;

/** The optional methods that take paths: what layers and compose forward one by one. */
export const PATH_METHODS = (Object.keys(BACKEND_METHODS) as BackendMethod[]).filter(
  (m) => BACKEND_METHODS[m].paths.length > 0 && m !== 'stat' && m !== 'list' && m !== 'open',
) as readonly Exclude<BackendMethod, 'stat' | 'list' | 'open' | 'statfs' | 'watch' | 'close'>[];

/** The methods that change data or metadata. */
export const MUTATING_METHODS: ReadonlySet<BackendMethod> = new Set(
  (Object.keys(BACKEND_METHODS) as BackendMethod[]).filter((m) => BACKEND_METHODS[m].mutates),
);
