import { expect } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { bytes, expectCode, readFile, readText, writeFile, type SuiteContext } from '../context.js';

export function readSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().read || !caps().write) return;
  test('read of a whole file resolves what was written', async () => {
    const path = `${root()}/r.txt`;
    await writeFile(backend(), path, 'hello, world\n');
    expect(await readText(backend(), path)).toBe('hello, world\n');
  });
  test('read at a position resolves the bytes from there', async () => {
    const path = `${root()}/pos.txt`;
    await writeFile(backend(), path, '0123456789');
    const h = await backend().open(path, parseOpenFlags('r'));
    try {
      const buf = new Uint8Array(4);
      expect(await h.read(buf, 3)).toBe(4);
      expect(new TextDecoder().decode(buf)).toBe('3456');
      expect(await h.read(buf, 8)).toBe(2);
      expect(await h.read(buf, 10)).toBe(0);
      expect(await h.read(buf, 1000)).toBe(0);
    } finally {
      await h.close();
    }
  });
  test('read with a null position advances the handle cursor', async () => {
    const path = `${root()}/cursor.txt`;
    await writeFile(backend(), path, 'abcdef');
    const h = await backend().open(path, parseOpenFlags('r'));
    try {
      const buf = new Uint8Array(4);
      expect(await h.read(buf, null)).toBe(4);
      expect(await h.read(buf, null)).toBe(2);
      expect(new TextDecoder().decode(buf.subarray(0, 2))).toBe('ef');
      expect(await h.read(buf, null)).toBe(0);
    } finally {
      await h.close();
    }
  });
  test('read of an empty file resolves 0', async () => {
    const path = `${root()}/empty`;
    await writeFile(backend(), path, '');
    expect((await readFile(backend(), path)).length).toBe(0);
    expect((await backend().stat(path)).size).toBe(0);
  });
  test('read of every byte value resolves them unchanged (binary safe)', async () => {
    const path = `${root()}/bin`;
    const data = new Uint8Array(512).map((_, i) => i % 256);
    await writeFile(backend(), path, data);
    expect(await readFile(backend(), path)).toEqual(data);
  });
  test('read of a 1 MiB file resolves all of it', async () => {
    const path = `${root()}/big`;
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
    await writeFile(backend(), path, data);
    expect((await backend().stat(path)).size).toBe(data.length);
    const back = await readFile(backend(), path);
    expect(back.length).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
  });
  test('open of a missing file for reading rejects ENOENT', async () => {
    await expectCode(backend().open(`${root()}/nope`, parseOpenFlags('r')), 'ENOENT');
  });
  test('read on a handle opened write-only rejects EBADF', async () => {
    const h = await backend().open(`${root()}/wo`, parseOpenFlags('w'));
    try {
      await expectCode(h.read(new Uint8Array(4), 0), 'EBADF');
    } finally {
      await h.close();
    }
  });
  test('read on a closed handle rejects EBADF', async () => {
    const path = `${root()}/closed`;
    await writeFile(backend(), path, 'x');
    const h = await backend().open(path, parseOpenFlags('r'));
    await h.close();
    await expectCode(h.read(new Uint8Array(4), 0), 'EBADF');
    await h.close(); // a second close resolves
  });
  if (caps().directories) {
    test('open of a directory rejects EISDIR', async () => {
      const dir = `${root()}/d`;
      await backend().mkdir!(dir);
      await expectCode(backend().open(dir, parseOpenFlags('w')), 'EISDIR');
    });
  }
  test('read of a string path resolves UTF-8 names', async () => {
    const path = `${root()}/naïve 名前.txt`;
    await writeFile(backend(), path, bytes('ü'));
    expect(await readText(backend(), path)).toBe('ü');
  });
}
