import {
  ByteBuffer,
  POSIX_CAPABILITIES,
  parseList,
  type OptionDecl,
  checkOffset,
  defineBackend,
  nameByteLength,
  normalizePath,
  ShylockError,
  splitPath,
  type Backend,
  type DirEntry,
  type ErrorCode,
  type FileHandle,
  type OpenFlags,
  type Stat,
} from '@shylock/core';
import { openStream, type StreamNode } from './stream.js';

/** Options of {@link memoryBackend}. */
export interface MemoryBackendOptions {
  /** Name used in errors and metrics (default `'memory'`). */
  name?: string;
  /**
   * Directories whose files are streams (message channels): each line written to a file there
   * is one message, and a reader receives the messages written after it opened. Created at start.
   * Default: none, and `capabilities.streams` is false.
   */
  streams?: string[];
  /** Files to start with: path → contents. Parent directories are created. */
  files?: Record<string, string | Uint8Array>;
  /** Writes or truncates past this size reject EFBIG. Default: unlimited. */
  maxFileSize?: number;
  /** Writes that would take the total of all file sizes past this reject ENOSPC. Default: unlimited. */
  maxTotalBytes?: number;
  /** Messages a stream reader may fall behind before the oldest are dropped (default 10,000). */
  streamBacklog?: number;
  /**
   * Keep extended attributes (`user.*`, `trusted.*`, `security.*`, with Linux's limits: names up
   * to 255 bytes, values up to 64 KiB, `user.*` only on files and directories). Default false:
   * through a mount, the kernel then need not ask for `security.capability` before every write.
   */
  xattrs?: boolean;
}

const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];
/** Linux's XATTR_SIZE_MAX and XATTR_NAME_MAX. */
const XATTR_SIZE_MAX = 65536;
const XATTR_NAME_MAX = 255;

interface Meta {
  mode: number;
  uid?: number;
  gid?: number;
  mtimeMs: number;
  ctimeMs: number;
  atimeMs: number;
  birthtimeMs: number;
  /** Extended attributes, when the backend keeps them and the node has any. */
  xattrs?: Map<string, Uint8Array>;
}
interface DirNode extends Meta {
  kind: 'directory';
  children: Map<string, Node>;
  /** Files created here are streams. */
  streams: boolean;
}
interface FileNode extends Meta {
  kind: 'file';
  data: ByteBuffer;
  /** Directory entries naming this file (hard links). */
  links: number;
}
interface LinkNode extends Meta {
  kind: 'symlink';
  target: string;
}
/** A FIFO, socket or device node: only its metadata lives here; the kernel does its I/O. */
interface SpecialNode extends Meta {
  kind: 'special';
  type: 'fifo' | 'socket' | 'chardev' | 'blockdev';
  rdev: number;
}
type Node = DirNode | FileNode | LinkNode | SpecialNode | (StreamNode & Meta);
const SPECIAL_TYPES: Record<number, SpecialNode['type']> = {
  0o010000: 'fifo',
  0o140000: 'socket',
  0o020000: 'chardev',
  0o060000: 'blockdev',
};

const encoder = new TextEncoder();

/**
 * A new node's times and mode. In a setgid directory (`parent`) it takes the directory's group,
 * and a new directory the setgid bit too, as on a disk.
 */
function meta(mode: number, parent?: Meta, directory = false): Meta {
  const now = Date.now();
  const node: Meta = { mode, mtimeMs: now, ctimeMs: now, atimeMs: now, birthtimeMs: now };
  if (parent && parent.mode & 0o2000) {
    if (parent.gid !== undefined) node.gid = parent.gid;
    if (directory) node.mode |= 0o2000;
  }
  return node;
}

function fail(code: ErrorCode, op: string, path: string, what: string): never {
  throw new ShylockError(code, `${op} ${path}: ${what}`, { op, path, backend: 'memory' });
}

/** The `shylock memory` flags, declared with the factory's options. */
export const MEMORY_OPTIONS: readonly OptionDecl[] = [
  {
    key: 'streams',
    flag: 'streams',
    type: 'string',
    value: '<dirs>',
    help: 'comma-separated directories whose files are message streams (each line written is a message; cat follows like tail -f)',
    parse: (text) => parseList(text),
  },
];

/**
 * An in-memory backend: a full tree of files and directories with random reads and writes,
 * truncate, rename, chmod and utimes, plus stream files in the directories named by `streams`.
 * Nothing is persisted; `close()` drops everything.
 *
 * ```ts
 * const mem = memoryBackend({ files: { '/hello.txt': 'hi\n' }, streams: ['/events'] });
 * ```
 *
 * @throws ShylockError `EINVAL` for a bad option.
 */
export function memoryBackend(options: MemoryBackendOptions = {}): Backend {
  const name = options.name ?? 'memory';
  for (const key of ['maxFileSize', 'maxTotalBytes', 'streamBacklog'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw new ShylockError('EINVAL', `memoryBackend: ${key} must be a non-negative integer, got ${String(v)}`);
    }
  }
  const maxFileSize = options.maxFileSize ?? Infinity;
  const maxTotalBytes = options.maxTotalBytes ?? Infinity;
  const backlog = options.streamBacklog ?? 10_000;
  let totalBytes = 0;
  const root: DirNode = { kind: 'directory', children: new Map(), streams: false, ...meta(0o755) };

  /** Walks to `path`; ENOENT / ENOTDIR on the way. */
  const lookup = (op: string, path: string): Node => {
    let node: Node = root;
    for (const segment of splitPath(path)) {
      if (node.kind !== 'directory') fail('ENOTDIR', op, path, 'a parent is not a directory');
      const next: Node | undefined = node.children.get(segment);
      if (!next) fail('ENOENT', op, path, 'no such file or directory');
      node = next;
    }
    return node;
  };
  const find = (op: string, path: string): Node | undefined => {
    try {
      return lookup(op, path);
    } catch (e) {
      if ((e as ShylockError).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  /** The parent directory of `path` and the last name. */
  const parentOf = (op: string, path: string): [DirNode, string] => {
    const segments = splitPath(path);
    const name = segments.pop();
    if (name === undefined) fail('EBUSY', op, path, 'the root cannot be changed this way');
    const parent = lookup(op, '/' + segments.join('/'));
    if (parent.kind !== 'directory') fail('ENOTDIR', op, path, 'a parent is not a directory');
    return [parent, name];
  };
  const touch = (node: Meta) => {
    node.mtimeMs = node.ctimeMs = Date.now();
  };
  const statOf = (node: Node): Stat => {
    const base = {
      mode: node.mode,
      ...(node.uid === undefined ? {} : { uid: node.uid }),
      ...(node.gid === undefined ? {} : { gid: node.gid }),
      mtimeMs: node.mtimeMs,
      ctimeMs: node.ctimeMs,
      atimeMs: node.atimeMs,
      birthtimeMs: node.birthtimeMs,
    };
    if (node.kind === 'directory') {
      let dirs = 0;
      for (const child of node.children.values()) if (child.kind === 'directory') dirs++;
      return { type: 'directory', size: 0, nlink: 2 + dirs, ...base };
    }
    if (node.kind === 'stream') return { type: 'stream', size: 0, nlink: 1, ...base };
    if (node.kind === 'symlink') return { type: 'symlink', size: nameByteLength(node.target), nlink: 1, ...base };
    if (node.kind === 'special') return { type: node.type, size: 0, nlink: 1, ...(node.rdev ? { rdev: node.rdev } : {}), ...base };
    return { type: 'file', size: node.data.size, nlink: node.links, ...base };
  };
  /** Applies a size change to the total; ENOSPC / EFBIG when over the limits. */
  const account = (op: string, path: string, from: number, to: number) => {
    if (to > maxFileSize) fail('EFBIG', op, path, `${to} bytes is over the ${maxFileSize}-byte file size limit`);
    if (totalBytes + to - from > maxTotalBytes) {
      fail('ENOSPC', op, path, `no space left: the backend holds at most ${maxTotalBytes} bytes`);
    }
    totalBytes += to - from;
  };
  const release = (node: Node) => {
    if (node.kind === 'file') {
      if (--node.links === 0) totalBytes -= node.data.size;
    } else if (node.kind === 'symlink' || node.kind === 'special') return;
    else if (node.kind === 'stream') node.end();
    else for (const child of node.children.values()) release(child);
  };
  const mkdirp = (path: string, streams = false) => {
    let dir = root;
    for (const segment of splitPath(path)) {
      let next = dir.children.get(segment);
      if (!next) dir.children.set(segment, (next = { kind: 'directory', children: new Map(), streams, ...meta(0o755) }));
      if (next.kind !== 'directory') {
        throw new ShylockError('EINVAL', `memoryBackend: "${path}" crosses a file`);
      }
      dir = next;
    }
    return dir;
  };

  for (const dir of options.streams ?? []) mkdirp(normalizePath(dir, 'memoryBackend streams')).streams = true;
  for (const [path, contents] of Object.entries(options.files ?? {})) {
    const p = normalizePath(path, 'memoryBackend files');
    const [parent, leaf] = [mkdirp(p.slice(0, p.lastIndexOf('/')) || '/'), p.slice(p.lastIndexOf('/') + 1)];
    const bytes = typeof contents === 'string' ? encoder.encode(contents) : contents;
    account('memoryBackend', p, 0, bytes.length);
    parent.children.set(leaf, { kind: 'file', data: new ByteBuffer(bytes), links: 1, ...meta(0o644) });
  }

  const openFile = (node: FileNode, path: string, flags: OpenFlags): FileHandle => {
    let cursor = 0;
    const badf = (op: string, why: string) => fail('EBADF', op, path, why);
    return {
      async read(buffer, position) {
        if (!flags.read) badf('read', 'the file was not opened for reading');
        const at = position ?? cursor;
        checkOffset(at, 'the position', 'read', path);
        const n = node.data.read(buffer, at);
        if (position === null) cursor = at + n;
        node.atimeMs = Date.now();
        return n;
      },
      async write(data, position) {
        if (!flags.write) badf('write', 'the file was not opened for writing');
        const at = flags.append ? node.data.size : (position ?? cursor);
        checkOffset(at, 'the position', 'write', path);
        const size = node.data.size;
        account('write', path, size, Math.max(size, at + data.length));
        node.data.write(data, at);
        if (position === null || flags.append) cursor = at + data.length;
        touch(node);
        return data.length;
      },
      async truncate(size) {
        if (!flags.write) badf('truncate', 'the file was not opened for writing');
        checkOffset(size, 'the size', 'truncate', path);
        account('truncate', path, node.data.size, size);
        node.data.truncate(size);
        touch(node);
      },
      async stat() {
        return statOf(node);
      },
      async flush() {},
      async close() {},
    };
  };

  return defineBackend({
    name,
    capabilities: {
      ...POSIX_CAPABILITIES,
      streams: (options.streams ?? []).length > 0,
      xattrs: options.xattrs === true,
      copy: true,
    },
    async stat(path) {
      return statOf(lookup('stat', path));
    },
    async list(path) {
      const node = lookup('list', path);
      if (node.kind !== 'directory') fail('ENOTDIR', 'list', path, 'not a directory');
      const entries: DirEntry[] = [];
      for (const [childName, child] of node.children) {
        const stat = statOf(child);
        entries.push({ name: childName, type: stat.type, stat });
      }
      return entries;
    },
    async open(path, flags, openOptions) {
      const existing = find('open', path);
      if (existing) {
        if (flags.create && flags.exclusive) fail('EEXIST', 'open', path, 'the file exists');
        if (existing.kind === 'directory') fail('EISDIR', 'open', path, 'is a directory');
        if (existing.kind === 'stream') return openStream(existing, path, flags, backlog);
        if (existing.kind === 'symlink') fail('ELOOP', 'open', path, 'is a symbolic link (links are not followed)');
        if (existing.kind === 'special')
          fail('ENXIO', 'open', path, `is a ${existing.type}: its I/O belongs to the kernel (open it through a mount)`);
        if (flags.truncate && flags.write) {
          account('open', path, existing.data.size, 0);
          existing.data.truncate(0);
          touch(existing);
        }
        return openFile(existing, path, flags);
      }
      if (!flags.create) fail('ENOENT', 'open', path, 'no such file or directory');
      const [parent, leaf] = parentOf('open', path);
      let node: Node;
      if (parent.streams) {
        node = Object.assign(newStream(), meta((openOptions?.mode ?? 0o644) & 0o7777, parent));
      } else {
        node = { kind: 'file', data: new ByteBuffer(), links: 1, ...meta((openOptions?.mode ?? 0o644) & 0o7777, parent) };
      }
      parent.children.set(leaf, node);
      touch(parent);
      return node.kind === 'stream' ? openStream(node, path, flags, backlog) : openFile(node, path, flags);
    },
    async mkdir(path, mode = 0o755) {
      const [parent, leaf] = parentOf('mkdir', path);
      if (parent.children.has(leaf)) fail('EEXIST', 'mkdir', path, 'it exists');
      parent.children.set(leaf, { kind: 'directory', children: new Map(), streams: false, ...meta(mode & 0o7777, parent, true) });
      touch(parent);
    },
    async unlink(path) {
      const [parent, leaf] = parentOf('unlink', path);
      const node = parent.children.get(leaf);
      if (!node) fail('ENOENT', 'unlink', path, 'no such file or directory');
      if (node.kind === 'directory') fail('EISDIR', 'unlink', path, 'is a directory: use rmdir');
      parent.children.delete(leaf);
      release(node);
      touch(parent);
    },
    async rmdir(path) {
      const [parent, leaf] = parentOf('rmdir', path);
      const node = parent.children.get(leaf);
      if (!node) fail('ENOENT', 'rmdir', path, 'no such file or directory');
      if (node.kind !== 'directory') fail('ENOTDIR', 'rmdir', path, 'not a directory');
      if (node.children.size > 0) fail('ENOTEMPTY', 'rmdir', path, 'the directory is not empty');
      parent.children.delete(leaf);
      touch(parent);
    },
    async rename(from, to) {
      if (from === to) {
        lookup('rename', from);
        return;
      }
      const [fromParent, fromName] = parentOf('rename', from);
      const node = fromParent.children.get(fromName);
      if (!node) fail('ENOENT', 'rename', from, 'no such file or directory');
      const [toParent, toName] = parentOf('rename', to);
      if (node.kind === 'directory' && to.startsWith(from + '/')) {
        fail('EINVAL', 'rename', from, `cannot move a directory into itself (${to})`);
      }
      const target = toParent.children.get(toName);
      if (target) {
        if (node.kind === 'directory' && target.kind !== 'directory') fail('ENOTDIR', 'rename', to, 'not a directory');
        if (node.kind !== 'directory' && target.kind === 'directory') fail('EISDIR', 'rename', to, 'is a directory');
        if (target.kind === 'directory' && target.children.size > 0) {
          fail('ENOTEMPTY', 'rename', to, 'the directory is not empty');
        }
        release(target);
      }
      fromParent.children.delete(fromName);
      toParent.children.set(toName, node);
      node.ctimeMs = Date.now();
      touch(fromParent);
      touch(toParent);
    },
    async truncate(path, size) {
      checkOffset(size, 'the size', 'truncate', path);
      const node = lookup('truncate', path);
      if (node.kind === 'directory') fail('EISDIR', 'truncate', path, 'is a directory');
      if (node.kind === 'stream') return;
      if (node.kind === 'symlink' || node.kind === 'special') fail('EINVAL', 'truncate', path, 'not a regular file');
      account('truncate', path, node.data.size, size);
      node.data.truncate(size);
      touch(node);
    },
    async chmod(path, mode) {
      const node = lookup('chmod', path);
      node.mode = mode & 0o7777;
      node.ctimeMs = Date.now();
    },
    async utimes(path, atimeMs, mtimeMs) {
      const node = lookup('utimes', path);
      node.atimeMs = atimeMs;
      node.mtimeMs = mtimeMs;
      node.ctimeMs = Date.now();
    },
    ...(options.xattrs === true ? xattrMethods(lookup) : {}),
    async chown(path, uid, gid) {
      const node = lookup('chown', path);
      if (uid !== -1 && uid !== 0xffffffff) node.uid = uid;
      if (gid !== -1 && gid !== 0xffffffff) node.gid = gid;
      node.ctimeMs = Date.now();
    },
    async symlink(target, path) {
      const [parent, leaf] = parentOf('symlink', path);
      if (parent.children.has(leaf)) fail('EEXIST', 'symlink', path, 'it exists');
      parent.children.set(leaf, { kind: 'symlink', target, ...meta(0o777, parent) });
      touch(parent);
    },
    async mknod(path, mode, dev) {
      const [parent, leaf] = parentOf('mknod', path);
      if (parent.children.has(leaf)) fail('EEXIST', 'mknod', path, 'it exists');
      const type = mode & 0o170000;
      const perm = mode & 0o7777;
      if (type === 0o100000 || type === 0) {
        parent.children.set(leaf, { kind: 'file', data: new ByteBuffer(), links: 1, ...meta(perm, parent) });
      } else {
        const special = SPECIAL_TYPES[type];
        if (!special) fail('EINVAL', 'mknod', path, `unknown file type ${type.toString(8)}`);
        parent.children.set(leaf, { kind: 'special', type: special, rdev: dev, ...meta(perm, parent) });
      }
      touch(parent);
    },
    async readlink(path) {
      const node = lookup('readlink', path);
      if (node.kind !== 'symlink') fail('EINVAL', 'readlink', path, 'not a symbolic link');
      return node.target;
    },
    async link(existing, path) {
      const node = lookup('link', existing);
      if (node.kind === 'directory') fail('EPERM', 'link', existing, 'directories cannot be hard-linked');
      const [parent, leaf] = parentOf('link', path);
      if (parent.children.has(leaf)) fail('EEXIST', 'link', path, 'it exists');
      if (node.kind === 'file') node.links++;
      parent.children.set(leaf, node);
      node.ctimeMs = Date.now();
      touch(parent);
    },
    async copy(from, to) {
      const node = lookup('copy', from);
      if (node.kind === 'directory') fail('EISDIR', 'copy', from, 'is a directory');
      if (node.kind !== 'file') fail('EINVAL', 'copy', from, 'not a regular file');
      const [parent, leaf] = parentOf('copy', to);
      const target = parent.children.get(leaf);
      if (target === node) return;
      if (target?.kind === 'directory') fail('EISDIR', 'copy', to, 'is a directory');
      account('copy', to, target?.kind === 'file' ? target.data.size : 0, node.data.size);
      if (target) release(target);
      parent.children.set(leaf, { kind: 'file', data: new ByteBuffer(node.data.view()), links: 1, ...meta(node.mode, parent) });
      touch(parent);
    },
    async close() {
      release(root);
      root.children.clear();
    },
  });

  function newStream(): StreamNode {
    const subscribers = new Set<(message: Uint8Array | null) => void>();
    return {
      kind: 'stream',
      subscribers,
      deleted: false,
      publish(message) {
        for (const s of subscribers) s(message);
      },
      end() {
        this.deleted = true;
        for (const s of subscribers) s(null);
        subscribers.clear();
      },
    };
  }
}

/** getxattr, setxattr, listxattr and removexattr on the nodes `lookup` finds. */
function xattrMethods(lookup: (op: string, path: string) => Node) {
  const checkName = (op: string, path: string, name: string) => {
    if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) {
      fail('ENOTSUP', op, path, `${name}: an attribute name starts with user., trusted., security. or system.`);
    }
    if (Buffer.byteLength(name) > XATTR_NAME_MAX) fail('ERANGE', op, path, `${name}: longer than ${XATTR_NAME_MAX} bytes`);
  };
  const value = (op: string, path: string, name: string): [Node, Uint8Array | undefined] => {
    checkName(op, path, name);
    const node = lookup(op, path);
    return [node, node.xattrs?.get(name)];
  };
  return {
    async getxattr(path: string, name: string) {
      const [, v] = value('getxattr', path, name);
      if (!v) fail('ENODATA', 'getxattr', path, `no attribute ${name}`);
      return new Uint8Array(v); // a copy: the caller may change it
    },
    async setxattr(path: string, name: string, data: Uint8Array, flags = 0) {
      const [node, v] = value('setxattr', path, name);
      if (name.startsWith('user.') && node.kind !== 'file' && node.kind !== 'directory') {
        fail('EPERM', 'setxattr', path, 'user attributes belong to files and directories only');
      }
      if (data.length > XATTR_SIZE_MAX) fail('E2BIG', 'setxattr', path, `a value holds at most ${XATTR_SIZE_MAX} bytes`);
      if (flags & 1 && v) fail('EEXIST', 'setxattr', path, `${name} exists (XATTR_CREATE)`);
      if (flags & 2 && !v) fail('ENODATA', 'setxattr', path, `no attribute ${name} to replace (XATTR_REPLACE)`);
      (node.xattrs ??= new Map()).set(name, new Uint8Array(data)); // a copy: the caller's buffer may be reused
      node.ctimeMs = Date.now();
    },
    async listxattr(path: string) {
      return [...(lookup('listxattr', path).xattrs?.keys() ?? [])];
    },
    async removexattr(path: string, name: string) {
      const [node, v] = value('removexattr', path, name);
      if (!v) fail('ENODATA', 'removexattr', path, `no attribute ${name}`);
      node.xattrs!.delete(name);
      node.ctimeMs = Date.now();
    },
  };
}
