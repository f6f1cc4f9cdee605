import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';
import { mount, type Mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

// Run a command as the unprivileged user nobody (65534:65534).
const asNobody = (cmd: string) => sh(`setpriv --reuid=65534 --regid=65534 --clear-groups bash -c ${JSON.stringify(cmd)}`);

for (const kind of ['memory', 'local'] as const) {
  describe(`POSIX ownership and permissions through a ${kind} mount`, () => {
    let m: Mount;
    let mnt: string;
    let backing = '';
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      [mnt, cleanup] = await tempDir(`posix-${kind}`);
      await chmod(mnt, 0o755);
      if (kind === 'local') {
        backing = await mkdtemp(join(tmpdir(), 'shylock-posix-backing-'));
        await chmod(backing, 0o755);
      }
      const backend = kind === 'local' ? localBackend({ root: backing }) : memoryBackend();
      m = await mount(backend, mnt, { allowOther: true });
      const r = await sh(`mkdir -m 1777 ${mnt}/shared && echo root-only > ${mnt}/rootfile && chmod 644 ${mnt}/rootfile`);
      expect(r.stderr).toBe('');
    });
    afterAll(async () => {
      await m?.unmount();
      await cleanup();
      if (backing) await rm(backing, { recursive: true, force: true });
    });

    it('files, directories and symlinks a user creates belong to that user and group', async () => {
      const r = await asNobody(`cd ${mnt}/shared && echo mine > f && mkdir d && ln -s f l && stat -c '%u:%g' f d l`);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('65534:65534\n65534:65534\n65534:65534\n');
      if (kind === 'local') {
        const s = await stat(join(backing, 'shared', 'f'));
        expect([s.uid, s.gid]).toEqual([65534, 65534]);
      }
    });
    it('permission bits are checked against the caller, as on a disk', async () => {
      const write = await asNobody(`echo x >> ${mnt}/rootfile`);
      expect(write.stderr).toMatch(/Permission denied/);
      const create = await asNobody(`touch ${mnt}/not-mine`);
      expect(create.stderr).toMatch(/Permission denied/);
      expect((await asNobody(`cat ${mnt}/rootfile`)).stdout).toBe('root-only\n');
      const chown = await asNobody(`chown 0 ${mnt}/shared/f`);
      expect(chown.stderr).toMatch(/Operation not permitted/);
    });
    it('root may chown, and the owner is kept', async () => {
      const r = await sh(`echo x > ${mnt}/owned && chown 1234:4321 ${mnt}/owned && stat -c '%u:%g' ${mnt}/owned`);
      expect(r.stdout).toBe('1234:4321\n');
    });
    it('utimes with different access and modification times keeps both', async () => {
      const r = await sh(
        `cd ${mnt} && echo t > times && python3 -c "import os; os.utime('times', (1000000000, 1600000000)); s = os.stat('times'); print(int(s.st_atime), int(s.st_mtime))"`,
      );
      expect(r.stdout).toBe('1000000000 1600000000\n');
    });
    it('O_EXCL on an existing file is "File exists", and rename over a file replaces it', async () => {
      const excl = await sh(`cd ${mnt} && echo a > ex && python3 -c "import os; os.open('ex', os.O_CREAT | os.O_EXCL | os.O_WRONLY)"`);
      expect(excl.stderr).toMatch(/FileExistsError/);
      const mv = await sh(`cd ${mnt} && echo new > src && echo old > dst && mv -f src dst && cat dst`);
      expect(mv.stdout).toBe('new\n');
    });
  });
}
