import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend } from '@shylock/local';
import { createPolicy } from '@shylock/qos';
import { hostXattr, mount, type Mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

/**
 * stress-ng's file system stressors (Debian `stress-ng`, an outside checker): each hammers one
 * area (renames, links, locks, fallocate, names of every byte, …), with `--verify` checking what
 * it reads back, on a plain directory and through local mounts side by side. Every stressor must
 * end the same way on both.
 */
const STRESSORS = [
  'access',
  'chdir',
  'chmod',
  'chown',
  'copy-file',
  'dentry',
  'dir',
  'dirdeep',
  'dirmany',
  'dup',
  'fallocate',
  'fcntl',
  'fiemap',
  'filename',
  'flock',
  'fpunch',
  'fsize',
  'fstat',
  'getdent',
  'hdd',
  'io',
  'iomix',
  'link',
  'locka',
  'lockf',
  'lockofd',
  'mknod',
  'open',
  'rename',
  'symlink',
  'sync-file',
  'touch',
  'utime',
  'xattr',
];

const installed = (await sh('command -v stress-ng')).code === 0;
if (!installed && process.env.CI === 'true') throw new Error('stress-ng is missing: apt-get install stress-ng (setup installs it)');

describe.runIf(installed)('stress-ng file system stressors on a plain directory and through local mounts', () => {
  const targets: { name: string; dir: string }[] = [];
  const mounts: Mount[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const dir = async (prefix: string) => {
      const [d, c] = await tempDir(prefix);
      cleanups.push(c);
      return d;
    };
    targets.push({ name: 'plain directory', dir: await dir('stress-plain') });
    const backing = await dir('stress-backing');
    const mnt = await dir('stress-mnt');
    mounts.push(await mount(localBackend({ root: backing, xattrs: hostXattr }), mnt));
    targets.push({ name: 'local mount', dir: mnt });
    const backingQ = await dir('stress-backing-qos');
    const mntQ = await dir('stress-mnt-qos');
    const policy = createPolicy([{ path: '/', readBytesPerSec: 1e12, writeBytesPerSec: 1e12, readOpsPerSec: 1e9, writeOpsPerSec: 1e9 }]);
    mounts.push(await mount(localBackend({ root: backingQ, xattrs: hostXattr }), mntQ, { qos: policy }));
    targets.push({ name: 'local mount + QoS rule', dir: mntQ });
  });
  afterAll(async () => {
    await Promise.allSettled(mounts.map((m) => m.unmount()));
    for (const c of cleanups.reverse()) await c();
  });

  it('every stressor ends as on the plain directory', async () => {
    const outcomes = await Promise.all(
      targets.map(async (t) => {
        const codes: Record<string, number> = {};
        const errors: string[] = [];
        for (const s of STRESSORS) {
          const r = await sh(`cd ${t.dir} && stress-ng --${s} 1 --${s}-ops 100 --temp-path ${t.dir} --verify --timeout 2s 2>&1`, 60_000);
          codes[s] = r.code;
          if (r.code !== 0) errors.push(...r.stdout.split('\n').filter((l) => /error|fail/i.test(l)));
        }
        return { name: t.name, codes, errors };
      }),
    );
    const expected = Object.fromEntries(STRESSORS.map((s) => [s, 0]));
    const [plain, ...mounted] = outcomes;
    expect(plain!.codes, plain!.errors.join('\n')).toEqual(expected);
    for (const m of mounted) {
      expect(m.codes, `${m.name}:\n${m.errors.join('\n')}`).toEqual(expected);
    }
  }, 600_000);
});
