import { expect } from 'vitest';
import { parseOpenFlags, type FileHandle } from '@shylock/core';
import { bytes, expectCode, randomName, type StreamDirOptions, type SuiteContext } from '../context.js';

const decoder = new TextDecoder();

/** Reads until `count` newline-terminated messages arrived. */
async function readMessages(handle: FileHandle, count: number): Promise<string[]> {
  let text = '';
  const buf = new Uint8Array(4096);
  while (text.split('\n').length - 1 < count) {
    const n = await handle.read(buf, null);
    if (n === 0) throw new Error(`the stream ended after ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n));
  }
  return text.split('\n').slice(0, count);
}

export function streamsSuite(context: SuiteContext): void {
  if (!context.caps().streams) return;
  const dirs = [context.options.streams ?? []].flat();
  if (dirs.length === 0) {
    context.test('stream options name a directory', async () => {
      throw new Error('the backend has capabilities.streams: pass { streams: { dir } } to describeBackend');
    });
    return;
  }
  for (const dir of dirs) {
    // With several stream directories, each test name says which one it ran in.
    const test = dirs.length === 1 ? context.test : (name: string, fn: () => Promise<void>) => context.test(`${dir.dir}: ${name}`, fn);
    streamTests(test, context.backend, dir);
  }
}

function streamTests(test: SuiteContext['test'], backend: SuiteContext['backend'], { dir, fanout }: StreamDirOptions): void {
  const streamPath = () => `${dir}/${randomName('st')}`;
  const open = (path: string, flags: string) => backend().open(path, parseOpenFlags(flags));

  test('a stream stats as type stream', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    try {
      expect((await backend().stat(path)).type).toBe('stream');
    } finally {
      await w.close();
    }
  });
  test('a line written to a stream reaches an open reader, newline-terminated', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      await w.write!(bytes('hello\n'), null);
      expect(await readMessages(r, 1)).toEqual(['hello']);
    } finally {
      await r.close();
      await w.close();
    }
  });
  test('several lines in one write arrive as messages in order', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      await w.write!(bytes('one\ntwo\nthree\n'), null);
      expect(await readMessages(r, 3)).toEqual(['one', 'two', 'three']);
    } finally {
      await r.close();
      await w.close();
    }
  });
  test('a last line without a newline is published at close', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      await w.write!(bytes('par'), null);
      await w.write!(bytes('tial'), null);
      await w.close();
      expect(await readMessages(r, 1)).toEqual(['partial']);
    } finally {
      await r.close();
      await w.close();
    }
  });
  test('a read on a stream with no message waits instead of returning 0', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      let settled = false;
      const pending = readMessages(r, 1).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(settled).toBe(false);
      await w.write!(bytes('late\n'), null);
      expect(await pending).toEqual(['late']);
    } finally {
      await r.close();
      await w.close();
    }
  });
  test('a read with a small buffer returns the message in pieces', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      await w.write!(bytes('abcdefgh\n'), null);
      const small = new Uint8Array(3);
      let text = '';
      while (!text.endsWith('\n')) {
        const n = await r.read(small, null);
        expect(n).toBeGreaterThan(0);
        text += decoder.decode(small.subarray(0, n));
      }
      expect(text).toBe('abcdefgh\n');
    } finally {
      await r.close();
      await w.close();
    }
  });
  test('a waiting stream read rejects ECANCELED when aborted', async () => {
    const path = streamPath();
    const w = await open(path, 'w');
    const r = await open(path, 'r');
    try {
      const controller = new AbortController();
      const pending = r.read(new Uint8Array(16), null, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expectCode(pending, 'ECANCELED');
    } finally {
      await r.close();
      await w.close();
    }
  });
  if (fanout === false) {
    test('each message goes to exactly one of two readers (a queue)', async () => {
      const path = streamPath();
      const w = await open(path, 'w');
      const r1 = await open(path, 'r');
      const r2 = await open(path, 'r');
      try {
        await w.write!(bytes('first\nsecond\n'), null);
        const got = [...(await readMessages(r1, 1)), ...(await readMessages(r2, 1))];
        expect(got.sort()).toEqual(['first', 'second']);
      } finally {
        await Promise.all([r1.close(), r2.close(), w.close()]);
      }
    });
  }
  if (fanout) {
    test('every open reader receives every message (fan-out)', async () => {
      const path = streamPath();
      const w = await open(path, 'w');
      const r1 = await open(path, 'r');
      const r2 = await open(path, 'r');
      try {
        await w.write!(bytes('all\n'), null);
        expect(await readMessages(r1, 1)).toEqual(['all']);
        expect(await readMessages(r2, 1)).toEqual(['all']);
      } finally {
        await Promise.all([r1.close(), r2.close(), w.close()]);
      }
    });
  }
}
