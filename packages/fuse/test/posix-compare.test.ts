import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend } from '@shylock/local';
import { hostMknod, hostXattr, mount, type Mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

const SOURCE = fileURLToPath(new URL('./posix-probe.py', import.meta.url));
/** A world-readable copy: the checkout may sit in a directory user nobody cannot enter. */
let PROBE = SOURCE;

/** Lines of `probe` output that differ between the plain directory and the mount. */
function differences(plain: string, mounted: string): string[] {
  const a = plain.trim().split('\n');
  const b = mounted.trim().split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) out.push(`directory: ${a[i] ?? '(none)'}\n    mount: ${b[i] ?? '(none)'}`);
  }
  return out;
}

/** Sets up what the unprivileged half of the probe expects, as root. */
async function prepareForNobody(dir: string) {
  await writeFile(join(dir, 'root.txt'), 'root\n', { mode: 0o644 });
  await writeFile(join(dir, 'secret.txt'), 'secret\n', { mode: 0o600 });
  await mkdir(join(dir, 'rootdir'), { mode: 0o755 });
  await mkdir(join(dir, 'private'), { mode: 0o700 });
  await mkdir(join(dir, 'sticky'));
  await chmod(join(dir, 'sticky'), 0o1777);
  await writeFile(join(dir, 'sticky', 'theirs'), 'x');
  await chown(join(dir, 'sticky', 'theirs'), 1234, 1234);
  await writeFile(join(dir, 'sticky', 'open-to-all'), 'x', { mode: 0o666 });
  await chmod(join(dir, 'sticky', 'open-to-all'), 0o666);
  await mkdir(join(dir, 'noexec'), { mode: 0o776 });
  await chmod(join(dir, 'noexec'), 0o776);
  await mkdir(join(dir, 'sgid'));
  await chown(join(dir, 'sgid'), 0, 4242);
  await chmod(join(dir, 'sgid'), 0o2777);
}

// The same system calls on a plain directory and through a local mount, side by side; every
// result (value or errno) must match.
describe('POSIX behaviour of a local mount next to the plain directory', () => {
  let plain: string;
  let backing: string;
  let mnt: string;
  let m: Mount;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    plain = await mkdtemp(join(tmpdir(), 'shylock-probe-plain-'));
    backing = await mkdtemp(join(tmpdir(), 'shylock-probe-backing-'));
    [mnt, cleanup] = await tempDir('probe');
    for (const d of [plain, backing, mnt]) await chmod(d, 0o755);
    PROBE = join(plain, '..', `${plain.split('/').pop()}-probe.py`);
    await copyFile(SOURCE, PROBE);
    await chmod(PROBE, 0o644);
    m = await mount(localBackend({ root: backing, xattrs: hostXattr, mknod: hostMknod }), mnt, { allowOther: true });
  });
  afterAll(async () => {
    await m?.unmount();
    await cleanup();
    await rm(plain, { recursive: true, force: true });
    await rm(PROBE, { force: true });
    await rm(backing, { recursive: true, force: true });
  });

  it('as root: open, mkdir, rmdir, unlink, rename, link, symlink, truncate, chmod, chown, utime, mknod', async () => {
    await mkdir(join(plain, 'root'));
    await mkdir(join(backing, 'root'));
    const a = await sh(`/usr/bin/python3 ${PROBE} ${plain}/root`);
    const b = await sh(`/usr/bin/python3 ${PROBE} ${mnt}/root`);
    expect(a.stderr + b.stderr).toBe('');
    expect(a.stdout.split('\n').length).toBeGreaterThan(60);
    expect(differences(a.stdout, b.stdout)).toEqual([]);
  });
  it('as nobody: permission checks, sticky directories, ownership of new files', async () => {
    await mkdir(join(plain, 'perm'));
    await mkdir(join(backing, 'perm'));
    await prepareForNobody(join(plain, 'perm'));
    await prepareForNobody(join(backing, 'perm'));
    const run = (dir: string) => sh(`setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 ${PROBE} ${dir}/perm --as-nobody`);
    const a = await run(plain);
    const b = await run(mnt);
    expect(a.stderr + b.stderr).toBe('');
    expect(a.stdout).toContain('write 0644 root file: EACCES');
    expect(differences(a.stdout, b.stdout)).toEqual([]);
  });
});
