import { describe, expect, it } from 'vitest';
import { parseOpenFlags } from '@shylock/core';
import { expectCode, readText, writeFile } from '@shylock/conformance';
import { memoryBackend } from '../src/index.js';

describe('memoryBackend', () => {
  it('files option seeds contents and parent directories', async () => {
    const mem = memoryBackend({ files: { '/docs/a/readme.md': '# hi', '/top.txt': new Uint8Array([1, 2]) } });
    expect(await readText(mem, '/docs/a/readme.md')).toBe('# hi');
    expect((await mem.stat('/docs/a')).type).toBe('directory');
    expect((await mem.stat('/top.txt')).size).toBe(2);
  });
  it('a bad option throws EINVAL naming it', () => {
    expect(() => memoryBackend({ maxFileSize: -1 })).toThrow(/maxFileSize/);
  });
  it('write past maxFileSize rejects EFBIG and keeps the file as it was', async () => {
    const mem = memoryBackend({ maxFileSize: 8 });
    await writeFile(mem, '/f', '12345678');
    const h = await mem.open('/f', parseOpenFlags('a'));
    await expectCode(h.write!(new Uint8Array(1), null), 'EFBIG');
    await h.close();
    expect(await readText(mem, '/f')).toBe('12345678');
  });
  it('write past maxTotalBytes rejects ENOSPC, and unlink gives the space back', async () => {
    const mem = memoryBackend({ maxTotalBytes: 10 });
    await writeFile(mem, '/a', '123456');
    await expectCode(writeFile(mem, '/b', '123456'), 'ENOSPC');
    await mem.unlink!('/a');
    await writeFile(mem, '/b', '123456');
  });
  it('a file unlinked while open stays readable through the handle', async () => {
    const mem = memoryBackend();
    await writeFile(mem, '/keep', 'still here');
    const h = await mem.open('/keep', parseOpenFlags('r'));
    await mem.unlink!('/keep');
    const buf = new Uint8Array(32);
    const n = await h.read(buf, 0);
    expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('still here');
    await h.close();
  });
  it('capabilities.streams is false without stream directories', () => {
    expect(memoryBackend().capabilities.streams).toBe(false);
    expect(memoryBackend({ streams: ['/s'] }).capabilities.streams).toBe(true);
  });
  it('deleting a stream ends its readers with 0', async () => {
    const mem = memoryBackend({ streams: ['/s'] });
    const w = await mem.open('/s/ch', parseOpenFlags('w'));
    const r = await mem.open('/s/ch', parseOpenFlags('r'));
    const pending = r.read(new Uint8Array(8), null);
    await mem.unlink!('/s/ch');
    expect(await pending).toBe(0);
    await r.close();
    await w.close();
  });
  it('close drops everything', async () => {
    const mem = memoryBackend({ files: { '/x': 'y' } });
    await mem.close();
    await mem.close();
  });
});
