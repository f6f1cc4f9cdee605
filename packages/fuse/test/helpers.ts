import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmountPath } from '../src/index.js';

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a bash command in a child process. The mount lives in this process, whose main thread
 * serves FUSE: every access to it must come from another process (or async fs), never sync fs.
 */
export function sh(command: string, timeoutMs = 30_000): Promise<ShResult> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh empty directory; removed (after any mount on it is gone) by the returned cleanup. */
export async function tempDir(prefix: string): Promise<[string, () => Promise<void>]> {
  const dir = await mkdtemp(join(tmpdir(), `shylock-${prefix}-`));
  return [
    dir,
    async () => {
      await unmountPath(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  ];
}

/** Bytes per second reported by a finished `dd` (its last line on stderr). */
export function ddRate(stderr: string): number {
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(stderr);
  if (!m) throw new Error(`no dd summary in: ${stderr}`);
  return Number(m[1]) / Number(m[2]);
}
