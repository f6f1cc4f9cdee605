/**
 * Part buffers, reused. A fresh buffer of a part's size (8 MiB by default) is new memory: the
 * first write to each of its pages faults, and every allocation counts towards the next garbage
 * collection. A file streaming up at a few hundred MiB/s needs dozens a second, so the ones a
 * finished part gives back serve the next parts, of any file of the same part size.
 */
const KEEP_BYTES = 64 << 20;
const kept = new Map<number, Buffer[]>();
let keptBytes = 0;

/** A buffer of `size` bytes, with old contents: the caller overwrites what it uses. */
export function takeBuffer(size: number): Buffer {
  const free = kept.get(size)?.pop();
  if (!free) return Buffer.allocUnsafe(size);
  keptBytes -= size;
  return free;
}

/** `buf` is no longer used by anyone: a later {@link takeBuffer} may hand it out. */
export function giveBuffer(buf: Buffer): void {
  if (keptBytes + buf.length > KEEP_BYTES) return;
  let list = kept.get(buf.length);
  if (!list) kept.set(buf.length, (list = []));
  list.push(buf);
  keptBytes += buf.length;
}
