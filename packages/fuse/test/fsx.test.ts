import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';
import { createPolicy } from '@shylock/qos';
import { mount, type Mount, type MountOptions } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

const FSX = fileURLToPath(new URL('./fsx.py', import.meta.url));
const SEEDS = [1, 2, 3];
const OPS = 1500;

// Random writes, reads, truncates, appends, mmap reads and writes and reopenings, each checked
// against a model of the file (test/fsx.py), run by python3 in another process. The same seeds on
// a plain directory first: the exerciser itself must pass there.
describe('fsx-style random file operations', () => {
  const targets: { name: string; dir: string }[] = [];
  const mounts: Mount[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const plain = await mkdtemp(join(tmpdir(), 'shylock-fsx-plain-'));
    cleanups.push(() => rm(plain, { recursive: true, force: true }));
    targets.push({ name: 'a plain directory', dir: plain });
    const mountOf = async (name: string, backend: Parameters<typeof mount>[0], options: MountOptions = {}) => {
      const [mnt, cleanup] = await tempDir('fsx');
      cleanups.push(cleanup);
      mounts.push(await mount(backend, mnt, options));
      targets.push({ name, dir: mnt });
    };
    const backing = async () => {
      const [dir, cleanup] = await tempDir('fsx-backing');
      cleanups.push(cleanup);
      return dir;
    };
    await mountOf('a local mount (native I/O)', localBackend({ root: await backing() }));
    // 64 MiB/s with a 1 s burst: chunks of prepaid credit, refills through JavaScript between them.
    const policy = createPolicy([{ path: '/', readBytesPerSec: 64 << 20, writeBytesPerSec: 64 << 20, burst: 1 }]);
    await mountOf('a local mount with a QoS rule (prepaid native I/O)', localBackend({ root: await backing() }), { qos: policy });
    await mountOf('a local mount without native I/O', localBackend({ root: await backing() }), { nativeIo: false });
    await mountOf('a memory mount', memoryBackend());
  });
  afterAll(async () => {
    await Promise.allSettled(mounts.map((m) => m.unmount()));
    for (const c of cleanups.reverse()) await c();
  });

  it.each([
    'a plain directory',
    'a local mount (native I/O)',
    'a local mount with a QoS rule (prepaid native I/O)',
    'a local mount without native I/O',
    'a memory mount',
  ])(
    '%s holds what the model holds after every operation',
    async (name) => {
      const { dir } = targets.find((t) => t.name === name)!;
      for (const seed of SEEDS) {
        const r = await sh(`python3 ${FSX} ${dir}/fsx-${seed} --ops ${OPS} --seed ${seed}`, 120_000);
        expect(r.code, `seed ${seed}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toContain('ok');
      }
    },
    300_000,
  );
});
