import { describe, expect, it } from 'vitest';
import { ByteBuffer, createBufferedHandle, createInbox, createStreamHandle, parseOpenFlags, type SpilledLines } from '../src/index.js';

const text = (m: Uint8Array) => new TextDecoder().decode(m);
/** What reads of a hand-over return. */
const joined = ({ lines, skip }: SpilledLines) =>
  new TextEncoder().encode(
    lines
      .map((l) => `${text(l)}\n`)
      .join('')
      .slice(skip),
  );

/** A reading stream handle fed by an inbox; `givenBack()` is what its release was given (null before). */
const readerWithGiveBack = (backlog?: number) => {
  const inbox = createInbox(backlog);
  let back: string[] | null = null;
  const h = createStreamHandle({
    path: '/q',
    backend: 'test',
    flags: parseOpenFlags('r'),
    receive: (signal) => inbox.receive(signal),
    release: async (unread) => void (back = unread.map(text)),
  });
  return { inbox, h, givenBack: () => back };
};

describe('createStreamHandle', () => {
  it('a partial line keeps its bytes after the caller reuses its Buffer (as FUSE does)', async () => {
    const published: string[] = [];
    const h = createStreamHandle({
      path: '/s',
      backend: 'test',
      flags: parseOpenFlags('w'),
      publish: async (messages) => void published.push(...messages.map(text)),
    });
    const fuseBuffer = Buffer.from('one\ntw');
    await h.write!(fuseBuffer, null);
    fuseBuffer.fill(0); // the binding hands the next request the same memory
    await h.write!(Buffer.from('o\n'), null);
    await h.close();
    expect(published).toEqual(['one', 'two']);
  });
  it('published messages stay intact after the write returns and its buffer is detached (as FUSE does)', async () => {
    const kept: Uint8Array[] = [];
    const h = createStreamHandle({
      path: '/s',
      backend: 'test',
      flags: parseOpenFlags('w'),
      // A backend that keeps the messages (an inbox, an offline queue) and reads them later.
      publish: async (messages) => void kept.push(...messages),
    });
    const fuseMemory = new ArrayBuffer(8);
    new Uint8Array(fuseMemory).set(new TextEncoder().encode('v1\nv2\n'));
    await h.write!(new Uint8Array(fuseMemory, 0, 6), null);
    structuredClone(fuseMemory, { transfer: [fuseMemory] }); // detaches it, as the binding does
    expect(fuseMemory.byteLength).toBe(0);
    expect(kept.map(text)).toEqual(['v1', 'v2']);
    await h.close();
  });
  it('reads in pieces of any size return each message with its newline, none lost at a boundary', async () => {
    for (const size of [1, 2, 3, 4, 7]) {
      const inbox = createInbox();
      const h = createStreamHandle({ path: '/s', backend: 'test', flags: parseOpenFlags('r'), receive: (signal) => inbox.receive(signal) });
      for (const m of ['ab', '', 'cde']) inbox.push(new TextEncoder().encode(m));
      let out = '';
      while (out.length < 'ab\n\ncde\n'.length) {
        const buf = new Uint8Array(size);
        out += text(buf.subarray(0, await h.read(buf, null)));
      }
      expect(out, `buffer of ${size}`).toBe('ab\n\ncde\n');
      await h.close();
    }
  });
  it('a line over the limit is refused whole: none of it is published, not its start nor its end', async () => {
    const published: string[] = [];
    const h = createStreamHandle({
      path: '/s',
      backend: 'test',
      flags: parseOpenFlags('w'),
      maxMessageBytes: 100,
      publish: async (messages) => void published.push(...messages.map(text)),
    });
    await h.write!(Buffer.from('before\n' + 'x'.repeat(60)), null);
    await expect(h.write!(Buffer.from('x'.repeat(60)), null)).rejects.toMatchObject({
      code: 'EFBIG',
      message: /a 120-byte line is over the 100-byte limit/,
    });
    await expect(h.write!(Buffer.from('x'.repeat(10)), null)).rejects.toMatchObject({ code: 'EFBIG' });
    await h.write!(Buffer.from('xx\nafter\nlast'), null);
    await h.close();
    expect(published).toEqual(['before', 'after', 'last']);
  });
  it('a failed publish at close keeps the line and close rejects', async () => {
    let fail = true;
    const published: string[] = [];
    const h = createStreamHandle({
      path: '/s',
      backend: 'test',
      flags: parseOpenFlags('w'),
      publish: async (messages) => {
        if (fail) throw new Error('down');
        published.push(...messages.map(text));
      },
    });
    await h.write!(new TextEncoder().encode('last'), null);
    await expect(h.flush!()).rejects.toThrow('down');
    fail = false;
    await h.close();
    expect(published).toEqual(['last']);
  });
  it('close reports a failed publish even when release fails too', async () => {
    const h = createStreamHandle({
      path: '/s',
      backend: 'test',
      flags: parseOpenFlags('w'),
      publish: async () => {
        throw new Error('publish failed');
      },
      release: async () => {
        throw new Error('release failed');
      },
    });
    await h.write!(new TextEncoder().encode('unsent'), null);
    await expect(h.close()).rejects.toThrow('publish failed');
  });
  it('messages received but not read are given back at close', async () => {
    const { inbox, h, givenBack } = readerWithGiveBack();
    for (const m of ['a', 'b', 'c']) inbox.push(new TextEncoder().encode(m));
    const buf = new Uint8Array(1);
    expect(await h.read(buf, null)).toBe(1); // 'a' partly read: its rest is not given back
    await h.close();
    expect(givenBack()).toEqual(['b', 'c']);
  });
  it('reads across many messages and several receives keep every byte in order; what is left is given back', async () => {
    const { inbox, h, givenBack } = readerWithGiveBack(100_000);
    const line = (i: number) => `m${String(i).padStart(5, '0')}`; // 6 bytes, 7 with the newline
    for (let i = 0; i < 20_000; i++) inbox.push(new TextEncoder().encode(line(i)));
    let got = '';
    const buf = new Uint8Array(7 * 1000 + 3);
    while (got.length < 7 * 15_000) got += text(buf.subarray(0, await h.read(buf, null)));
    // A second receive while the first one's messages are not all read.
    for (let i = 20_000; i < 20_010; i++) inbox.push(new TextEncoder().encode(line(i)));
    while (got.length < 7 * 20_005) got += text(buf.subarray(0, await h.read(buf, null)));
    expect(got.slice(0, 7 * 20_005)).toBe(Array.from({ length: 20_005 }, (_, i) => `${line(i)}\n`).join(''));
    await h.close();
    // A line the last read stopped in counts as read; every line after it is given back.
    const read = got.length / 7;
    expect(givenBack()).toEqual(Array.from({ length: 20_010 - Math.ceil(read) }, (_, i) => line(Math.ceil(read) + i)));
  });
  it('spill hands over what was received as lines; what was not read of it is given back at close', async () => {
    const { inbox, h, givenBack } = readerWithGiveBack();
    const messages = ['abc', 'de', 'fgh', 'ij'].map((m) => new TextEncoder().encode(m));
    for (const m of messages) inbox.push(m);
    const buf = new Uint8Array(2);
    expect(text(buf.subarray(0, await h.read(buf, null)))).toBe('ab');
    // The rest of 'abc' (read in part), then the others, each with its newline: the messages
    // themselves, not copies.
    const handed = h.spill!.take()!;
    expect(handed.lines).toEqual(messages);
    expect(handed.lines[1]).toBe(messages[1]);
    expect(handed.skip).toBe(2);
    const spilled = joined(handed);
    expect(text(spilled)).toBe('c\nde\nfgh\nij\n');
    expect(h.spill!.take()).toBeUndefined();
    // Someone else served 'c\nde\nf' of it: 'fgh' was read in part, 'ij' not at all.
    h.spill!.unread(spilled.length - 'c\nde\nf'.length);
    await h.close();
    expect(givenBack()).toEqual(['ij']);
  });
  it('spill: a line read only in part before the hand-over is never given back', async () => {
    const { inbox, h, givenBack } = readerWithGiveBack();
    inbox.push(new TextEncoder().encode('abc'));
    inbox.push(new TextEncoder().encode('d'));
    const buf = new Uint8Array(1);
    await h.read(buf, null);
    const spilled = joined(h.spill!.take()!);
    h.spill!.unread(spilled.length);
    await h.close();
    expect(givenBack()).toEqual(['d']);
  });
  it('an inbox past its backlog drops the oldest and counts them', async () => {
    const inbox = createInbox(2);
    for (const m of ['1', '2', '3']) inbox.push(new TextEncoder().encode(m));
    expect(inbox.dropped).toBe(1);
    expect((await inbox.receive(new AbortController().signal))!.map(text)).toEqual(['2', '3']);
  });
});

describe('createBufferedHandle', () => {
  it('writes never change the Buffer it was opened with', async () => {
    const initial = Buffer.from('abc');
    const h = createBufferedHandle({ path: '/f', backend: 'test', flags: parseOpenFlags('r+'), initial, commit: async () => {} });
    await h.write!(new TextEncoder().encode('X'), 0);
    expect(initial.toString()).toBe('abc');
  });
  it('a truncate never changes the Buffer it was opened with, and what follows reads zeros', async () => {
    const initial = Buffer.from('abcdef');
    const h = createBufferedHandle({ path: '/f', backend: 'test', flags: parseOpenFlags('r+'), initial, commit: async () => {} });
    await h.truncate!(2);
    await h.truncate!(4);
    const out = Buffer.alloc(8);
    expect(await h.read(out, 0)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([97, 98, 0, 0]);
    expect(initial.toString()).toBe('abcdef');
  });
});

describe('createBufferedHandle native bytes', () => {
  it('a read-only handle offers its value for native reads; a writable one does not', async () => {
    const initial = Buffer.from('value');
    const ro = createBufferedHandle({ path: '/f', backend: 'test', flags: parseOpenFlags('r'), initial, commit: async () => {} });
    expect(ro.native).toMatchObject({ read: true, write: false, noFlush: true });
    expect(text(ro.native!.bytes!)).toBe('value');
    expect(ro.native!.bytes!.buffer).toBe(initial.buffer); // the value itself, not a copy
    const rw = createBufferedHandle({ path: '/f', backend: 'test', flags: parseOpenFlags('r+'), initial, commit: async () => {} });
    expect(rw.native).toBeUndefined();
  });
});

describe('ByteBuffer.borrow', () => {
  it('reads the lent memory in place and copies it at the first change', () => {
    const lent = new TextEncoder().encode('hello');
    const b = ByteBuffer.borrow(lent);
    expect(b.view().buffer).toBe(lent.buffer); // no copy while only read
    b.write(new TextEncoder().encode('J'), 0);
    b.write(new TextEncoder().encode('!'), 5);
    expect(text(b.view())).toBe('Jello!');
    expect(text(lent)).toBe('hello');
    expect(b.view().buffer).not.toBe(lent.buffer);
  });
});
