import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mount } from '@shylock/fuse';
import { mountComposed } from '../src/index.js';

const sh = (cmd: string) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile('bash', ['-c', cmd], (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: stdout + stderr })),
  );

describe('examples/compose', () => {
  let disk: string;
  let mnt: string;
  let m: Mount;
  beforeAll(async () => {
    disk = await mkdtemp(join(tmpdir(), 'shylock-disk-'));
    mnt = await mkdtemp(join(tmpdir(), 'shylock-compose-'));
    m = await mountComposed(disk, mnt);
  });
  afterAll(async () => {
    await m?.unmount();
    await rm(mnt, { recursive: true, force: true });
    await rm(disk, { recursive: true, force: true });
  });

  it('the root lists both backends', async () => {
    expect((await sh(`ls ${mnt}`)).out).toBe('disk\nscratch\n');
    expect((await sh(`cat ${mnt}/scratch/README`)).out).toBe('in memory: gone at unmount\n');
  });
  it('files written under /disk land in the local directory', async () => {
    expect((await sh(`echo saved > ${mnt}/disk/note.txt`)).code).toBe(0);
    expect(await readFile(join(disk, 'note.txt'), 'utf8')).toBe('saved\n');
  });
  it('cp between backends works; a rename between them is EXDEV, which mv turns into copy + delete', async () => {
    expect((await sh(`cp ${mnt}/scratch/README ${mnt}/disk/README`)).code).toBe(0);
    expect(await readFile(join(disk, 'README'), 'utf8')).toBe('in memory: gone at unmount\n');
    const py = await sh(`python3 -c "import os; os.rename('${mnt}/disk/note.txt', '${mnt}/scratch/note.txt')"`);
    expect(py.out).toMatch(/Invalid cross-device link/);
    expect((await sh(`mv ${mnt}/disk/note.txt ${mnt}/scratch/ && cat ${mnt}/scratch/note.txt`)).out).toBe('saved\n');
  });
});
