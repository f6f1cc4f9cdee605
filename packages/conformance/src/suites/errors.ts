import { expect } from 'vitest';
import { ERRNO, parseOpenFlags } from '@shylock/core';
import { expectCode, writeFile, type SuiteContext } from '../context.js';

export function errorsSuite({ test, backend, root, caps }: SuiteContext): void {
  test('a path climbing above the root with .. rejects EINVAL', async () => {
    await expectCode(backend().stat('/../etc/passwd'), 'EINVAL');
    await expectCode(backend().open('/a/../../x', parseOpenFlags('r')), 'EINVAL');
    await expectCode(backend().list('/..'), 'EINVAL');
  });
  test('a path with a NUL byte rejects EINVAL', async () => {
    await expectCode(backend().stat('/a\0b'), 'EINVAL');
    await expectCode(backend().open('/a\0b', parseOpenFlags('w')), 'EINVAL');
  });
  test('an empty path rejects EINVAL', async () => {
    await expectCode(backend().stat(''), 'EINVAL');
  });
  test('a name over 255 bytes rejects ENAMETOOLONG', async () => {
    await expectCode(backend().stat(`${root()}/${'n'.repeat(256)}`), 'ENAMETOOLONG');
  });
  test('a name of 255 bytes that are not UTF-8 is 255 bytes long, not ENAMETOOLONG', async () => {
    // Each such byte is one lone surrogate (see nameBytes): stat finds nothing, or refuses text.
    await expectCode(backend().stat(`${root()}/${'\udce9'.repeat(255)}`), caps().byteNames ? 'ENOENT' : 'EILSEQ');
    await expectCode(backend().stat(`${root()}/${'\udce9'.repeat(256)}`), 'ENAMETOOLONG');
  });
  if (caps().write && caps().list) {
    test(caps().byteNames ? 'a name that is not UTF-8 is kept byte for byte' : 'a name that is not UTF-8 rejects EILSEQ', async () => {
      const dir = root();
      const name = 'caf\udce9 \udcff\udc80 é'; // bytes 63 61 66 e9 20 ff 80 20 c3 a9
      if (!caps().byteNames) {
        await expectCode(writeFile(backend(), `${dir}/${name}`, 'x'), 'EILSEQ');
        return;
      }
      await writeFile(backend(), `${dir}/${name}`, 'latin-1');
      await writeFile(backend(), `${dir}/caf\udce8`, 'other');
      const names = (await backend().list(dir)).map((e) => e.name).sort();
      expect(names).toEqual([`caf\udce8`, name].sort());
      expect((await backend().stat(`${dir}/${name}`)).size).toBe(7);
    });
  }
  test('a rejection carries the op, the path, the backend name and retryable', async () => {
    const path = `${root()}/missing`;
    const error = await backend()
      .stat(path)
      .then(
        () => undefined,
        (e: unknown) => e as Record<string, unknown>,
      );
    expect(error).toBeDefined();
    expect(error!.name).toBe('ShylockError');
    expect(error!.code).toBe('ENOENT');
    expect(error!.errno).toBe(ERRNO.ENOENT);
    expect(error!.op).toBe('stat');
    expect(error!.path).toBe(path);
    expect(typeof error!.backend).toBe('string');
    expect(error!.retryable).toBe(false);
  });
  test('an aborted signal rejects ECANCELED before any work', async () => {
    const controller = new AbortController();
    controller.abort();
    await expectCode(backend().stat('/', { signal: controller.signal }), 'ECANCELED');
  });
  test('paths are normalised: //, ./ and a trailing slash name the same thing', async () => {
    expect((await backend().stat('//./')).type).toBe('directory');
    if (!caps().write) return;
    const dir = root();
    await writeFile(backend(), `${dir}/n.txt`, 'abc');
    const s = await backend().stat(`${dir.slice(1)}//./n.txt/`);
    expect(s.size).toBe(3);
  });
}
