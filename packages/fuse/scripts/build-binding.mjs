#!/usr/bin/env node
// Builds fuse-native from source, with the patch in patches/fuse-native@2.2.6.patch (the caller's
// uid/gid/pid for each operation, utimens with the real mtime). node-gyp-build loads
// build/Release before the prebuilt binary, so the patched build wins. Skipped when up to date;
// without it @shylock/fuse still works, without caller credentials.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const dir = dirname(require.resolve('fuse-native/package.json'));
const source = join(dir, 'fuse-native.c');
const built = join(dir, 'build', 'Release', 'fuse.node');
const force = process.argv.includes('--force');

if (!existsSync(source) || !readFileSync(source, 'utf8').includes('caller_uid')) {
  console.error('shylock: fuse-native is not the patched copy (install with pnpm from the repository); skipping the build');
  process.exit(0);
}
if (!force && existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs) process.exit(0);

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [nodeGyp, 'rebuild', '--silent'];
// Build against the headers of the Node that runs this (Debian: /usr/include/node), no download.
const prefix = dirname(dirname(process.execPath));
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
try {
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  console.error('shylock: building the patched fuse-native failed (needs python3, make, g++ and Node headers)');
  process.exit(1);
}
console.error(`shylock: built the patched fuse-native in ${dirname(built)}`);
