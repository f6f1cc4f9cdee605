import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');

/** Runs a mount in a mount namespace where `hide` is replaced by an empty file. */
async function mountWithout(hide: string): Promise<{ code: number; out: string }> {
  const program = `import { mount } from ${JSON.stringify(dist)};
try { await mount({ name: 'x', capabilities: {}, stat() {}, list() {}, open() {}, close: async () => {} }, process.argv[1]); }
catch (e) { console.log(e.code + ' ' + e.message); process.exit(3); }`;
  const script = `mount --bind /dev/null ${hide} && exec ${process.execPath} --input-type=module -e "$0" "$1"`;
  try {
    const { stdout } = await run('unshare', ['-m', 'sh', '-c', script, program, tmpdir()]);
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

const libfuse = ['/lib/x86_64-linux-gnu/libfuse3.so.3', '/usr/lib/x86_64-linux-gnu/libfuse3.so.3', '/lib64/libfuse3.so.3'].find((f) =>
  existsSync(f),
);

it('without libfuse3.so.3 a mount fails with one line naming the package to install', async () => {
  expect(libfuse, 'libfuse3.so.3 is where Debian puts it').toBeDefined();
  const { code, out } = await mountWithout(libfuse!);
  expect(code).toBe(3);
  expect(out.trim().split('\n')).toHaveLength(1);
  expect(out).toMatch(/^EIO libfuse 3 is missing: install it \(Debian\/Ubuntu: apt-get install fuse3/);
});
