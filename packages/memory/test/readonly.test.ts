import { describe, expect, it } from 'vitest';
import { parseOpenFlags, readOnly } from '@shylock/core';
import { memoryBackend } from '../src/index.js';
import { describeBackend, expectCode, readText } from '@shylock/conformance';

describeBackend('readOnly(memory)', () => readOnly(memoryBackend()));

describe('readOnly layer', () => {
  const make = () => readOnly(memoryBackend({ files: { '/d/f.txt': 'data' } }));
  it('reads pass through', async () => {
    const ro = make();
    expect(await readText(ro, '/d/f.txt')).toBe('data');
    expect((await ro.list('/d')).map((e) => e.name)).toEqual(['f.txt']);
  });
  it('every change rejects EROFS', async () => {
    const ro = make();
    for (const flags of ['w', 'r+', 'a', 'wx']) await expectCode(ro.open('/d/f.txt', parseOpenFlags(flags)), 'EROFS');
    await expectCode(ro.mkdir!('/n'), 'EROFS');
    await expectCode(ro.unlink!('/d/f.txt'), 'EROFS');
    await expectCode(ro.rmdir!('/d'), 'EROFS');
    await expectCode(ro.rename!('/d/f.txt', '/g'), 'EROFS');
    await expectCode(ro.truncate!('/d/f.txt', 0), 'EROFS');
    await expectCode(ro.chmod!('/d/f.txt', 0o600), 'EROFS');
    expect(await readText(ro, '/d/f.txt')).toBe('data');
  });
  it('capabilities say nothing can be written', () => {
    const caps = make().capabilities;
    expect(caps.write || caps.unlink || caps.rename || caps.directories || caps.truncate).toBe(false);
    expect(caps.read && caps.list).toBe(true);
  });
});
