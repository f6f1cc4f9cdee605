import { expect } from 'vitest';
import { expectCode, readText, writeFile, type SuiteContext } from '../context.js';

export function linksSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().write) return;
  if (caps().symlinks) {
    test('symlink stores its target as given, and stat does not follow it', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/real`, 'content');
      await backend().symlink!('real', `${dir}/ln`);
      await backend().symlink!('/absolute/elsewhere', `${dir}/abs`);
      expect(await backend().readlink!(`${dir}/ln`)).toBe('real');
      expect(await backend().readlink!(`${dir}/abs`)).toBe('/absolute/elsewhere');
      expect((await backend().stat(`${dir}/ln`)).type).toBe('symlink');
      const names = Object.fromEntries((await backend().list(dir)).map((e) => [e.name, e.type]));
      expect(names).toMatchObject({ ln: 'symlink', real: 'file' });
    });
    test('symlink over an existing name rejects EEXIST, readlink of a file EINVAL', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/f`, 'x');
      await expectCode(backend().symlink!('t', `${dir}/f`), 'EEXIST');
      await expectCode(backend().readlink!(`${dir}/f`), 'EINVAL');
      await expectCode(backend().readlink!(`${dir}/missing`), 'ENOENT');
    });
    test('unlink of a symlink removes the link, not its target', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/keep`, 'x');
      await backend().symlink!('keep', `${dir}/ln`);
      await backend().unlink!(`${dir}/ln`);
      expect(await readText(backend(), `${dir}/keep`)).toBe('x');
    });
  }
  if (caps().hardLinks) {
    test('link makes a second name for the same contents', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/a`, 'shared');
      await backend().link!(`${dir}/a`, `${dir}/b`);
      expect((await backend().stat(`${dir}/a`)).nlink).toBe(2);
      await writeFile(backend(), `${dir}/b`, 'changed', 'r+');
      expect(await readText(backend(), `${dir}/a`)).toBe('changed');
      await backend().unlink!(`${dir}/a`);
      expect(await readText(backend(), `${dir}/b`)).toBe('changed');
      expect((await backend().stat(`${dir}/b`)).nlink).toBe(1);
    });
    test('link to an existing name rejects EEXIST, of a missing file ENOENT', async () => {
      const dir = root();
      await writeFile(backend(), `${dir}/a`, 'x');
      await writeFile(backend(), `${dir}/b`, 'y');
      await expectCode(backend().link!(`${dir}/a`, `${dir}/b`), 'EEXIST');
      await expectCode(backend().link!(`${dir}/missing`, `${dir}/c`), 'ENOENT');
    });
  }
  if (caps().specialFiles) {
    test('mknod makes a FIFO that stats as fifo with its mode, and EEXIST over a name', async () => {
      const dir = root();
      await backend().mknod!(`${dir}/pipe`, 0o010000 | 0o600, 0);
      const s = await backend().stat(`${dir}/pipe`);
      expect([s.type, s.mode & 0o7777]).toEqual(['fifo', 0o600]);
      await expectCode(backend().mknod!(`${dir}/pipe`, 0o010000 | 0o600, 0), 'EEXIST');
      await backend().unlink!(`${dir}/pipe`);
    });
  }
  if (caps().chown) {
    test('chown sets the owner and group; -1 leaves one unchanged', async () => {
      const path = `${root()}/owned`;
      await writeFile(backend(), path, 'x');
      await backend().chown!(path, 1234, 5678);
      await backend().chown!(path, 4321, 0xffffffff);
      const s = await backend().stat(path);
      expect([s.uid, s.gid]).toEqual([4321, 5678]);
    });
  }
}
