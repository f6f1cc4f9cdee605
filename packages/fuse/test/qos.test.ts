import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryBackend } from '@shylock/memory';
import { createPolicy, createQosServer, type Policy, type QosServer } from '@shylock/qos';
import { mount, type Mount } from '../src/index.js';
import { ddRate, sh, tempDir } from './helpers.js';

const MiB = 1 << 20;

// Rates are measured by dd in another process, as a user would see them. Each transfer lasts
// about 5 s so the 128 KiB burst is a small part of it.
describe('QoS through a mount', () => {
  let m: Mount;
  let mnt: string;
  let cleanup: () => Promise<void>;
  let policy: Policy;
  let api: QosServer;
  beforeAll(async () => {
    [mnt, cleanup] = await tempDir('qos');
    policy = createPolicy(
      [
        { path: '/read', readBytesPerSec: 2 * MiB },
        { path: '/write', writeBytesPerSec: 1 * MiB },
        { path: '/ops', writeOpsPerSec: 50 },
        { path: '/live', readBytesPerSec: 256 * 1024 },
      ],
      { root: mnt },
    );
    const files: Record<string, Uint8Array> = {
      '/read/big': new Uint8Array(10 * MiB),
      '/live/big': new Uint8Array(8 * MiB),
      '/free/big': new Uint8Array(10 * MiB),
      '/write/.keep': new Uint8Array(0),
      '/ops/.keep': new Uint8Array(0),
    };
    m = await mount(memoryBackend({ files }), mnt, { qos: policy });
    api = await createQosServer(policy);
  });
  afterAll(async () => {
    await api?.close();
    await m?.unmount();
    await cleanup();
  });

  const within = (actual: number, target: number, tolerance = 0.05) => {
    expect(Math.abs(actual - target) / target, `${Math.round(actual)} vs ${target}`).toBeLessThanOrEqual(tolerance);
  };

  it('a 2 MiB/s read rule holds within ±5% (dd)', async () => {
    const r = await sh(`dd if=${mnt}/read/big of=/dev/null bs=128k`, 30_000);
    expect(r.code).toBe(0);
    within(ddRate(r.stderr), 2 * MiB);
  });
  it('a 1 MiB/s write rule holds within ±5% (dd)', async () => {
    const r = await sh(`dd if=/dev/zero of=${mnt}/write/out bs=128k count=40`, 30_000);
    expect(r.code).toBe(0);
    within(ddRate(r.stderr), 1 * MiB);
  });
  it('a 50 ops/s write rule holds within ±5% (dd, 4 KiB writes)', async () => {
    const r = await sh(`dd if=/dev/zero of=${mnt}/ops/out bs=4k count=250`, 30_000);
    expect(r.code).toBe(0);
    const opsPerSecond = ddRate(r.stderr) / 4096;
    within(opsPerSecond, 50);
  });
  it('a path without a rule is not throttled', async () => {
    const r = await sh(`dd if=${mnt}/free/big of=/dev/null bs=128k`, 30_000);
    expect(ddRate(r.stderr)).toBeGreaterThan(20 * MiB);
  });
  it('a REST update changes the rate of a file already being read', async () => {
    // 8 MiB at 256 KiB/s would take 32 s; after 1.5 s the limit rises to 8 MiB/s.
    const t0 = performance.now();
    const reading = sh(`dd if=${mnt}/live/big of=/dev/null bs=128k`, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    const res = await fetch(`${api.url}/key/live`, { method: 'PUT', body: JSON.stringify({ read_limit: 8 * MiB }) });
    expect(res.status).toBe(200);
    const r = await reading;
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(0);
    // ~0.5 MiB in the first 1.5 s, then ~7.5 MiB at 8 MiB/s: about 2.5 s in all.
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(6);
  });
});
