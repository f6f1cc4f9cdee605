import { execFile } from 'node:child_process';
import { mkdir, readFile, stat as fsStat, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import { ShylockError, toShylockError } from '@shylock/core';

const run = promisify(execFile);

/** Checks the mountpoint; unmounts a stale FUSE mount left by a crashed process. */
export async function prepareMountpoint(mountpoint: string, create: boolean): Promise<void> {
  let info: Awaited<ReturnType<typeof fsStat>>;
  try {
    info = await fsStat(mountpoint);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      await unmountPath(mountpoint);
      info = await fsStat(mountpoint);
    } else if (code === 'ENOENT' && create) {
      await mkdir(mountpoint, { recursive: true });
      info = await fsStat(mountpoint);
    } else if (code === 'ENOENT') {
      throw new ShylockError('ENOENT', `the mountpoint ${mountpoint} does not exist: create it first (mkdir -p)`, {
        op: 'mount',
        path: mountpoint,
      });
    } else {
      throw toShylockError(e, { op: 'mount', path: mountpoint });
    }
  }
  if (!info.isDirectory()) {
    throw new ShylockError('ENOTDIR', `the mountpoint ${mountpoint} is not a directory`, { op: 'mount', path: mountpoint });
  }
  if (await isMounted(mountpoint)) {
    throw new ShylockError('EBUSY', `${mountpoint} is already a mountpoint: unmount it first (fusermount -u ${mountpoint})`, {
      op: 'mount',
      path: mountpoint,
    });
  }
}

/** Mounts from /proc/self/mountinfo: mountpoint (octal escapes decoded) and device (major:minor). */
async function mountinfo(): Promise<{ path: string; device: string }[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const path = fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { path, device: fields[2]! };
    });
}

async function mountpoints(): Promise<string[]> {
  return (await mountinfo()).map((m) => m.path);
}

/**
 * Sets the kernel's readahead of the mount at `path` (its bdi's read_ahead_kb): a sequential
 * reader is then sent requests of up to that much at a time. Root only; false when it can't.
 */
export async function setReadahead(path: string, kib: number): Promise<boolean> {
  const target = resolvePath(path);
  const found = (await mountinfo()).filter((m) => m.path === target).pop();
  if (!found) return false;
  return writeFile(`/sys/class/bdi/${found.device}/read_ahead_kb`, String(kib)).then(
    () => true,
    () => false,
  );
}

/** True when `path` is a mountpoint now. */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountpoints()).includes(resolvePath(path));
}

/**
 * Unmounts whatever FUSE mount is at `path`, lazily, also a stale one ("Transport endpoint is
 * not connected"). Resolves when nothing is mounted there.
 */
export async function unmountPath(path: string): Promise<void> {
  const target = resolvePath(path);
  if (!(await isMounted(target))) return;
  try {
    await run('fusermount3', ['-uz', target]);
  } catch {
    await run('fusermount', ['-uz', target]).catch(() => run('umount', ['-l', target]).catch(() => undefined));
  }
  if (await isMounted(target)) {
    throw new ShylockError('EBUSY', `could not unmount ${target}: try umount -l ${target}`, { op: 'unmount', path: target });
  }
}
