import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The binding's C data structures (name codec, handle table and credit, paths below a root),
// compiled with AddressSanitizer and UBSan and run: any overflow, leak or race on the counters
// fails the run.
const binding = join(dirname(fileURLToPath(import.meta.url)), '..', 'binding');

it('the C tests of the binding pass under AddressSanitizer and UBSan', () => {
  const out = mkdtempSync(join(tmpdir(), 'shylock-ctest-'));
  try {
    const sources = readdirSync(binding)
      .filter((f) => f.endsWith('.c') && f !== 'shylock_fuse.c')
      .map((f) => join(binding, f));
    const exe = join(out, 'test_structures');
    execFileSync('cc', [
      '-g',
      '-O1',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-Wall',
      '-Wextra',
      '-Werror',
      ...sources,
      '-o',
      exe,
      '-lpthread',
    ]);
    const printed = execFileSync(exe, { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    expect(printed).toMatch(/^\d+ passed, 0 failed$/m);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
