import { type ChildProcess, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Figures measured round by round, targets interleaved, for benchmarks on a machine whose speed
 * swings between runs: each figure keeps every round's value, and a ratio is taken within each
 * round (both sides under the same conditions) before the median of those is reported.
 */
export class Rounds {
  private readonly values = new Map<string, number[]>();

  /** Records this round's value of `name`; returns it. */
  add(name: string, value: number): number {
    const list = this.values.get(name) ?? [];
    list.push(value);
    this.values.set(name, list);
    return value;
  }

  /** Every round's value of `name`, in order. */
  all(name: string): number[] {
    const list = this.values.get(name);
    if (!list || list.length === 0) throw new Error(`no values recorded for ${name}`);
    return list;
  }

  /** The median of `name` over the rounds (the lower middle one for an even count). */
  median(name: string): number {
    const sorted = [...this.all(name)].sort((a, b) => a - b);
    return sorted[(sorted.length - 1) >> 1]!;
  }

  /** "min–max" of `name`, with `digits` decimals. */
  range(name: string, digits = 2): string {
    const list = this.all(name);
    return `${format(Math.min(...list), digits)}–${format(Math.max(...list), digits)}`;
  }
}

/** A number with thousands separators and `digits` decimals. */
export function format(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Seconds `work` takes. */
export async function seconds(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

/** Drops the kernel's page cache (root), so a read comes from the file system, not memory. */
export async function dropCaches(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => {});
}

const mountedNow = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);

/**
 * Waits up to 15 s for a FUSE daemon (rclone, s3fs, gcsfuse …) started as `child` to mount `dir`;
 * fails if it exits first. Resolves with its unmount: SIGTERM, then a lazy unmount if it stayed.
 */
export async function daemonMount(dir: string, child: ChildProcess, what: string): Promise<() => Promise<void>> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; i < 300 && !mountedNow(dir); i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before mounting`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!mountedNow(dir)) throw new Error(`${what} did not mount ${dir}`);
  return async () => {
    child.kill('SIGTERM');
    await exited;
    if (mountedNow(dir)) await run('fusermount3', ['-uz', dir]).catch(() => {});
  };
}
