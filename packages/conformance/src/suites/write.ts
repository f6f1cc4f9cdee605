import { expect } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { bytes, expectCode, readText, writeFile, type SuiteContext } from '../context.js';

export function writeSuite({ test, backend, root, caps }: SuiteContext): void {
  if (!caps().write) return;
  test('write to a new file creates it', async () => {
    const path = `${root()}/new.txt`;
    await writeFile(backend(), path, 'created');
    expect(await readText(backend(), path)).toBe('created');
  });
  test('write with truncate replaces the whole contents', async () => {
    const path = `${root()}/t.txt`;
    await writeFile(backend(), path, 'a long first version');
    await writeFile(backend(), path, 'short');
    expect(await readText(backend(), path)).toBe('short');
    expect((await backend().stat(path)).size).toBe(5);
  });
  test('open of a missing file without create rejects ENOENT', async () => {
    await expectCode(backend().open(`${root()}/nope`, parseOpenFlags('r+')), 'ENOENT');
  });
  test('open with create and exclusive on an existing file rejects EEXIST', async () => {
    const path = `${root()}/x.txt`;
    await writeFile(backend(), path, 'x');
    await expectCode(backend().open(path, parseOpenFlags('wx')), 'EEXIST');
    expect(await readText(backend(), path)).toBe('x');
  });
  test('open with create and exclusive on a missing file creates it', async () => {
    const path = `${root()}/fresh.txt`;
    await writeFile(backend(), path, 'y', 'wx');
    expect(await readText(backend(), path)).toBe('y');
  });
  test('write on a handle opened read-only rejects EBADF', async () => {
    const path = `${root()}/ro.txt`;
    await writeFile(backend(), path, 'x');
    const h = await backend().open(path, parseOpenFlags('r'));
    try {
      if (h.write) await expectCode(h.write(bytes('y'), 0), 'EBADF');
    } finally {
      await h.close();
    }
    expect(await readText(backend(), path)).toBe('x');
  });
  test('write on a closed handle rejects EBADF', async () => {
    const h = await backend().open(`${root()}/c.txt`, parseOpenFlags('w'));
    await h.close();
    await expectCode(h.write!(bytes('late'), 0), 'EBADF');
  });
  test('flush makes written data visible to a second handle', async () => {
    const path = `${root()}/flushed.txt`;
    const h = await backend().open(path, parseOpenFlags('w'));
    try {
      await h.write!(bytes('durable'), 0);
      await h.flush?.();
      expect(await readText(backend(), path)).toBe('durable');
    } finally {
      await h.close();
    }
  });
  test('write of many small chunks with a null position appends them in order', async () => {
    const path = `${root()}/chunks.txt`;
    const h = await backend().open(path, parseOpenFlags('w'));
    try {
      for (let i = 0; i < 100; i++) await h.write!(bytes(`${i},`), null);
    } finally {
      await h.close();
    }
    const expected = Array.from({ length: 100 }, (_, i) => `${i},`).join('');
    expect(await readText(backend(), path)).toBe(expected);
  });
  test('handle stat reports the size written so far', async () => {
    const h = await backend().open(`${root()}/hs.txt`, parseOpenFlags('w+'));
    try {
      await h.write!(bytes('12345'), 0);
      if (h.stat) expect((await h.stat()).size).toBe(5);
    } finally {
      await h.close();
    }
  });
  if (caps().randomWrite) {
    test('write at a position overwrites those bytes only', async () => {
      const path = `${root()}/rw.txt`;
      await writeFile(backend(), path, 'hello world');
      const h = await backend().open(path, parseOpenFlags('r+'));
      try {
        await h.write!(bytes('WORLD'), 6);
      } finally {
        await h.close();
      }
      expect(await readText(backend(), path)).toBe('hello WORLD');
    });
    test('write past the end fills the gap with zeros', async () => {
      const path = `${root()}/gap.bin`;
      await writeFile(backend(), path, 'ab');
      const h = await backend().open(path, parseOpenFlags('r+'));
      try {
        await h.write!(bytes('z'), 5);
      } finally {
        await h.close();
      }
      expect(await readText(backend(), path)).toBe('ab\0\0\0z');
    });
  }
  if (caps().append) {
    test('write in append mode adds to the end whatever the position', async () => {
      const path = `${root()}/log.txt`;
      await writeFile(backend(), path, 'one\n');
      const h = await backend().open(path, parseOpenFlags('a'));
      try {
        await h.write!(bytes('two\n'), 0);
        await h.write!(bytes('three\n'), null);
      } finally {
        await h.close();
      }
      expect(await readText(backend(), path)).toBe('one\ntwo\nthree\n');
    });
  }
  if (caps().truncate) {
    test('handle truncate shrinks and zero-extends the open file', async () => {
      const path = `${root()}/ht.txt`;
      await writeFile(backend(), path, 'abcdef');
      const h = await backend().open(path, parseOpenFlags('r+'));
      try {
        await h.truncate!(3);
        await h.truncate!(5);
      } finally {
        await h.close();
      }
      expect(await readText(backend(), path)).toBe('abc\0\0');
    });
  }
}
