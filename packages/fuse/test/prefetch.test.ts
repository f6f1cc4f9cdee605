import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, forward, parseOpenFlags } from '@shylock/core';
import { memoryBackend } from '@shylock/memory';
import { createPolicy } from '@shylock/qos';
import { mount, type Mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

/**
 * A memory backend whose stat brings a file's content along, as etcd's does, counting the opens
 * that reach it: an open the FUSE threads served from the content never does.
 */
function contentBackend(): {
  backend: Backend;
  opens: () => number;
  asked: boolean[];
  seed: (path: string, text: string) => Promise<void>;
} {
  const inner = memoryBackend();
  let opens = 0;
  const asked: boolean[] = [];
  const backend = forward(inner, {
    async stat(path, o) {
      asked.push(o?.content === true);
      const s = await inner.stat(path);
      if (s.type !== 'file') return s;
      const h = await inner.open(path, parseOpenFlags('r'));
      const content = new Uint8Array(s.size);
      await h.read(content, 0);
      await h.close();
      return { ...s, content };
    },
    open(path, flags, o) {
      opens++;
      return inner.open(path, flags, o);
    },
  });
  const seed = async (path: string, text: string) => {
    const h = await inner.open(path, parseOpenFlags('w'));
    await h.write(Buffer.from(text), 0);
    await h.close();
  };
  return { backend, opens: () => opens, asked, seed };
}

describe('opens served from the content a stat brought', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const mounted = async (backend: Backend, options = {}): Promise<[Mount, string]> => {
    const [dir, cleanup] = await tempDir('prefetch');
    const m = await mount(backend, dir, options);
    cleanups.push(cleanup, () => m.unmount());
    return [m, dir];
  };

  it('a read-only open right after the lookup reaches no backend open; fstat, read and close work', async () => {
    const { backend, opens, seed } = contentBackend();
    await seed('/a', 'hello from the lookup');
    const [, dir] = await mounted(backend);
    const r = await sh(`python3 -c "
import os, sys
fd = os.open('${dir}/a', os.O_RDONLY)
st = os.fstat(fd)
print(st.st_size, oct(st.st_mode & 0o7777), os.read(fd, 100).decode(), os.pread(fd, 4, 6).decode())
os.fsync(fd)
os.close(fd)"`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('21 0o644 hello from the lookup from');
    expect(opens()).toBe(0);
  });

  it('writes, opens for writing and opens after a change go to the backend, and read what it holds', async () => {
    const { backend, opens, seed } = contentBackend();
    await seed('/a', 'one');
    const [, dir] = await mounted(backend);
    const r = await sh(`cat ${dir}/a; echo; echo two > ${dir}/a; cat ${dir}/a; exec 3<${dir}/a; cat <&3`);
    expect(r.stdout).toBe('one\ntwo\ntwo\n');
    // The write's open; reads after the write were served from fresh stats, or from the backend.
    expect(opens()).toBeGreaterThanOrEqual(1);
    const before = opens();
    expect((await sh(`printf x >> ${dir}/a && cat ${dir}/a`)).stdout).toBe('two\nx');
    expect(opens()).toBeGreaterThan(before);
  });

  it('content kept longer than 200 ms is not used: the open asks the backend', async () => {
    const { backend, opens, seed } = contentBackend();
    await seed('/a', 'old');
    const [, dir] = await mounted(backend, { attrTimeout: 5 });
    // The lookup (cached by the kernel for 5 s), then an open 400 ms later.
    const r = await sh(`stat -c %s ${dir}/a && sleep 0.4 && cat ${dir}/a`);
    expect(r.stdout).toBe('3\nold');
    expect(opens()).toBe(1);
  });

  it('with a QoS rule every open reaches the backend (it pays for its reads); without rules again, none', async () => {
    const { backend, opens, seed } = contentBackend();
    await seed('/a', 'paid');
    const policy = createPolicy([{ path: '/', readBytesPerSec: 1 << 30 }]);
    const [, dir] = await mounted(backend, { qos: policy });
    expect((await sh(`cat ${dir}/a`)).stdout).toBe('paid');
    expect(opens()).toBe(1);
    policy.remove('/');
    expect((await sh(`cat ${dir}/a`)).stdout).toBe('paid');
    expect(opens()).toBe(1);
  });

  it('lookups ask for the content while opens take it, and mostly stop asking under stat alone', async () => {
    const { backend, asked, seed } = contentBackend();
    for (let i = 0; i < 64; i++) await seed(`/f${i}`, `file ${i}`);
    const [, dir] = await mounted(backend);
    asked.length = 0; // the mount's own look at the root
    await sh(`for i in $(seq 0 63); do cat ${dir}/f$i > /dev/null; done`);
    expect(asked.length).toBeGreaterThanOrEqual(64);
    expect(asked.every(Boolean)).toBe(true);
    asked.length = 0;
    await sh(`for r in 1 2 3 4; do for i in $(seq 0 63); do stat -c %s ${dir}/f$i > /dev/null; done; done`);
    // After a window or two of contents nobody took, one lookup in 16 still asks.
    expect(asked.slice(-128).filter(Boolean).length).toBeLessThanOrEqual(8);
  });

  it('with native I/O off every open reaches the backend', async () => {
    const { backend, opens, seed } = contentBackend();
    await seed('/a', 'js');
    const [, dir] = await mounted(backend, { nativeIo: false });
    expect((await sh(`cat ${dir}/a; cat ${dir}/a`)).stdout).toBe('jsjs');
    expect(opens()).toBe(2);
  });
});
