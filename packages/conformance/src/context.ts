import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { ERRNO, parseOpenFlags, type Backend, type Capabilities, type ErrorCode, type OpenFlags } from '@shylock/core';

/** Options of {@link describeBackend}. */
export interface ConformanceOptions {
  /**
   * The directory under which each test makes its own random root (default `/`). Use it when the
   * backend's root is not writable, e.g. `'/kv'` for Redis or `'/mem'` for a composed tree.
   */
  base?: string;
  /**
   * Stream tests: where stream files may be created. Required when `capabilities.streams`. A
   * list runs the stream tests in each directory (Redis: pub/sub, streams and queues).
   */
  streams?: StreamDirOptions | StreamDirOptions[];
  /** Per-test timeout in ms (default 10,000). */
  timeout?: number;
  /**
   * Tests to leave out, each with the reason printed in the test name, for behaviour the backend
   * documents as different: `{ 'rename a directory': 'S3 renames are copies' }`.
   */
  exclude?: Record<string, string>;
}

/** A directory of stream files, for the stream tests. */
export interface StreamDirOptions {
  /** A directory whose files are streams (`'/pubsub'`). */
  dir: string;
  /** Every reader receives every message (pub/sub). False for task queues (one reader each). */
  fanout?: boolean;
}

/** What each suite file gets. */
export interface SuiteContext {
  /** The backend under test (made once per `describeBackend`). */
  backend(): Backend;
  /** A fresh random directory path for this test; it exists when the backend has directories. */
  root(): string;
  caps: () => Readonly<Capabilities>;
  options: ConformanceOptions;
  /** `it`, honouring `options.exclude` and the timeout. */
  test(name: string, fn: () => Promise<void>): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A random name, safe for any backend: letters and digits. */
export function randomName(prefix = 'cf'): string {
  return `${prefix}-${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** Bytes of a string. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Writes `data` to a new (or emptied) file and closes it. */
export async function writeFile(
  backend: Backend,
  path: string,
  data: string | Uint8Array,
  flags: string | Partial<OpenFlags> = 'w',
): Promise<void> {
  const handle = await backend.open(path, parseOpenFlags(flags));
  try {
    const payload = typeof data === 'string' ? bytes(data) : data;
    let at = 0;
    while (at < payload.length) at += await handle.write!(payload.subarray(at), null);
  } finally {
    await handle.close();
  }
}

/** Reads a whole file from position 0. */
export async function readFile(backend: Backend, path: string): Promise<Uint8Array> {
  const handle = await backend.open(path, parseOpenFlags('r'));
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(64 * 1024);
      const n = await handle.read(chunk, total);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** Reads a whole file as UTF-8 text. */
export async function readText(backend: Backend, path: string): Promise<string> {
  return decoder.decode(await readFile(backend, path));
}

/**
 * Asserts that `promise` rejects with a ShylockError of `code` (by `name` and `code`, as users
 * recognise it), carrying a known errno and a message.
 */
export async function expectCode(promise: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(error, `expected a rejection with ${code}`).toBeDefined();
  const e = error as { name?: unknown; code?: unknown; errno?: unknown; message?: unknown };
  expect({ name: e.name, code: e.code }).toEqual({ name: 'ShylockError', code });
  expect(e.errno).toBe(ERRNO[code]);
  expect(typeof e.message === 'string' && e.message.length > 0).toBe(true);
}
