import { describe, expect, it } from 'vitest';
import { compose, parseOpenFlags } from '@shylock/core';
import { memoryBackend } from '../src/index.js';
import { describeBackend, expectCode, readText, writeFile } from '@shylock/conformance';

describeBackend(
  'compose(memory, memory)',
  () => compose({ '/mem': memoryBackend({ streams: ['/streams'] }), '/dc1/cache': memoryBackend() }),
  { base: '/mem', streams: { dir: '/mem/streams', fanout: true } },
);

describe('compose', () => {
  const make = () => {
    const a = memoryBackend({ files: { '/a.txt': 'from a' } });
    const b = memoryBackend({ files: { '/b.txt': 'from b' } });
    return compose({ '/config': a, '/dc1/data': b });
  };
  it('the root lists the mount names as directories', async () => {
    const c = make();
    const entries = await c.list('/');
    expect(entries.map((e) => [e.name, e.type]).sort()).toEqual([
      ['config', 'directory'],
      ['dc1', 'directory'],
    ]);
    expect(await c.list('/dc1')).toEqual([{ name: 'data', type: 'directory' }]);
    expect((await c.stat('/dc1')).type).toBe('directory');
  });
  it('paths are sent to the backend mounted there', async () => {
    const c = make();
    expect(await readText(c, '/config/a.txt')).toBe('from a');
    expect(await readText(c, '/dc1/data/b.txt')).toBe('from b');
    await expectCode(c.stat('/nowhere'), 'ENOENT');
  });
  it('rename between two backends rejects EXDEV', async () => {
    const c = make();
    await expectCode(c.rename!('/config/a.txt', '/dc1/data/a.txt'), 'EXDEV');
  });
  it('removing a mount point rejects EBUSY and writing in a synthetic directory EPERM or EISDIR', async () => {
    const c = make();
    await expectCode(c.rmdir!('/config'), 'EBUSY');
    await expectCode(c.open('/dc1', parseOpenFlags('w')), 'EISDIR');
    await expectCode(c.mkdir!('/dc1'), 'EEXIST');
  });
  it('a backend at / fills what the other mounts leave', async () => {
    const base = memoryBackend({ files: { '/readme': 'base' } });
    const c = compose({ '/': base, '/extra': memoryBackend({ files: { '/x': 'extra' } }) });
    expect((await c.list('/')).map((e) => e.name).sort()).toEqual(['extra', 'readme']);
    await writeFile(c, '/new', 'to base');
    expect(await readText(base, '/new')).toBe('to base');
    expect(await readText(c, '/extra/x')).toBe('extra');
  });
  it('two keys naming one mount path throw EINVAL', () => {
    expect(() => compose({ '/a': memoryBackend(), '/a/': memoryBackend() })).toThrow(/twice/);
    expect(() => compose({})).toThrow(/at least one/);
  });
  it('capabilities are those every backend has', () => {
    const c = compose({ '/s': memoryBackend({ streams: ['/x'] }), '/p': memoryBackend() });
    expect(c.capabilities.streams).toBe(false);
    expect(c.capabilities.write).toBe(true);
  });
});
