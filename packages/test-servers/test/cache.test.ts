import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { installed, step } from '../src/cache.js';

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'shylock-cache-'));
  process.env.SHYLOCK_SERVERS_CACHE = root;
});
afterEach(async () => {
  delete process.env.SHYLOCK_SERVERS_CACHE;
  await rm(root, { recursive: true, force: true });
});

it('installs once however many callers ask at the same time', async () => {
  let installs = 0;
  const install = async (dir: string) => {
    installs++;
    await new Promise((r) => setTimeout(r, 200));
    await writeFile(join(dir, 'server'), 'x');
  };
  const dirs = await Promise.all([1, 2, 3].map(() => installed('thing', '1.0', install)));
  expect(installs).toBe(1);
  expect(new Set(dirs).size).toBe(1);
  expect(existsSync(join(dirs[0]!, 'server'))).toBe(true);
  // A later run finds it installed.
  await installed('thing', '1.0', install);
  expect(installs).toBe(1);
});

it('a failed install leaves nothing behind and says which step failed', async () => {
  const failing = (dir: string) =>
    step('fetching the server from Maven Central', 'sh', ['-c', `echo partial > ${dir}/x; echo "404 Not Found" >&2; exit 1`]).then(
      () => undefined,
    );
  await expect(installed('broken', '2.0', failing)).rejects.toThrow(/fetching the server from Maven Central failed .*404 Not Found/s);
  expect(await readdir(root)).toEqual([]);
});
