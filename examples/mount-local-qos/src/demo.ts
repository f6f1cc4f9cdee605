#!/usr/bin/env node
// The shylock demo: a local directory mounted through FUSE with a QoS file; a throttled read
// next to an unthrottled one; a limit changed over the REST API; then a clean unmount.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountWithQos, type ThrottledMount } from './index.js';

const MiB = 1 << 20;

/** Reads a file with dd in a child process (never from this process: it serves the mount). */
function dd(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('dd', [`if=${file}`, 'of=/dev/null', 'bs=128k'], (error, _stdout, stderr) => {
      const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(stderr);
      if (error || !m) return reject(new Error(`dd ${file} failed: ${stderr.trim() || error?.message}`));
      resolve(Number(m[1]) / Number(m[2]));
    });
  });
}

const rate = (bytesPerSecond: number) => `${(bytesPerSecond / MiB).toFixed(2)} MiB/s`;

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'shylock-demo-'));
  const source = join(work, 'source');
  const mnt = join(work, 'mnt');
  const csv = join(work, 'qos.csv');
  let mounted: ThrottledMount | undefined;
  const stop = async () => {
    await mounted?.close();
    await rm(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await mkdir(join(source, 'users', 'lhj'), { recursive: true });
    await mkdir(join(source, 'public'), { recursive: true });
    await mkdir(mnt);
    const sample = Buffer.alloc(4 * MiB, 'shylock ');
    await writeFile(join(source, 'users', 'lhj', 'dataset.bin'), sample);
    await writeFile(join(source, 'public', 'dataset.bin'), sample);
    await writeFile(csv, `# path,read_bps,write_bps,read_ops,write_ops\n${mnt}/users/lhj/,1MiB,512K,200,0\n`);

    mounted = await mountWithQos(source, mnt, csv);
    console.log(`mounted ${source} at ${mnt}`);
    console.log(`QoS file: ${mnt}/users/lhj/ reads at most 1 MiB/s and 200 ops/s; REST API on ${mounted.api.url}\n`);

    console.log('reading two 4 MiB files through the mount with dd (a separate process):');
    const [slow, fast] = await Promise.all([dd(join(mnt, 'users/lhj/dataset.bin')), dd(join(mnt, 'public/dataset.bin'))]);
    console.log(`  users/lhj/dataset.bin   limit 1 MiB/s    achieved ${rate(slow)}`);
    console.log(`  public/dataset.bin      no rule          achieved ${rate(fast)}\n`);

    const body = JSON.stringify({ read_limit: 4 * MiB });
    console.log(`curl -X PUT ${mounted.api.url}/key/users/lhj -d '${body}'`);
    const res = await fetch(`${mounted.api.url}/key/users/lhj`, { method: 'PUT', body });
    console.log(`  → ${res.status} ${(await res.text()).trim()}`);
    const faster = await dd(join(mnt, 'users/lhj/dataset.bin'));
    console.log(`  users/lhj/dataset.bin   limit 4 MiB/s    achieved ${rate(faster)}\n`);
  } finally {
    await stop();
    if (mounted) console.log(`unmounted ${mnt}`);
  }
}

main().catch((error: unknown) => {
  console.error(`shylock demo: ${(error as Error).message}`);
  process.exitCode = 1;
});
