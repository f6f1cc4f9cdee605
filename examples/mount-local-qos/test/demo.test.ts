import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DEMO = fileURLToPath(new URL('../dist/demo.js', import.meta.url));

describe('the demo (npm run demo)', () => {
  it('shows the throttled and unthrottled rates, the REST change, and unmounts', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [DEMO], { timeout: 90_000 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, stdout, stderr })),
    );
    expect(code, stderr).toBe(0);
    const achieved = (label: string) => Number(new RegExp(`${label}.*achieved ([\\d.]+) MiB/s`).exec(stdout)![1]);
    // 4 MiB at 1 MiB/s after a 128 KiB burst: 1.03 MiB/s; then 4 MiB/s after the PUT.
    expect(achieved('limit 1 MiB/s')).toBeGreaterThan(0.95);
    expect(achieved('limit 1 MiB/s')).toBeLessThan(1.1);
    expect(achieved('no rule')).toBeGreaterThan(8);
    expect(achieved('limit 4 MiB/s')).toBeGreaterThan(3.8);
    expect(achieved('limit 4 MiB/s')).toBeLessThan(4.5);
    expect(stdout).toMatch(/→ 200 \{"key":"\/users\/lhj","read_limit":4194304/);
    expect(stdout).toMatch(/unmounted /);
  });
});
