#!/usr/bin/env node
// Compiles shylock's FUSE binding (binding/*.c, N-API over libfuse 3) into
// prebuilds/<platform>-<arch>/shylock-fuse.node, the binary the published package ships.
//   --local   build into build/ instead: the fallback for a platform without a prebuilt binary
//   --force   rebuild even when the binary is newer than its sources
// Needs a C compiler, pkg-config and libfuse 3's headers (Debian: apt-get install gcc pkg-config
// libfuse3-dev), and Node's headers (they come with Node, or from the node-api-headers package).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const local = process.argv.includes('--local');
const force = process.argv.includes('--force');
const outDir = local ? join(root, 'build') : join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const out = join(outDir, 'shylock-fuse.node');
const sourceDir = join(root, 'binding');
const sources = readdirSync(sourceDir)
  .filter((f) => f.endsWith('.c') && !f.startsWith('test'))
  .map((f) => join(sourceDir, f));
const headers = readdirSync(sourceDir).filter((f) => f.endsWith('.h')).map((f) => join(sourceDir, f));

const fail = (message) => {
  console.error(`shylock: ${message}`);
  process.exit(1);
};

if (process.platform !== 'linux') fail(`the FUSE binding builds on Linux only, not ${process.platform}`);
if (!force && existsSync(out)) {
  const built = statSync(out).mtimeMs;
  if ([...sources, ...headers, fileURLToPath(import.meta.url)].every((f) => statSync(f).mtimeMs <= built)) process.exit(0);
}

/** Node's headers: beside the running node, else from the node-api-headers package. */
function nodeHeaders() {
  const beside = join(dirname(dirname(process.execPath)), 'include', 'node');
  if (existsSync(join(beside, 'node_api.h'))) return beside;
  try {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('node-api-headers/package.json')), 'include');
    if (existsSync(join(dir, 'node_api.h'))) return dir;
  } catch {}
  return fail('Node\'s headers (node_api.h) are missing: install them with your Node, or npm install node-api-headers');
}

function fuseFlags() {
  try {
    return execFileSync('pkg-config', ['--cflags', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    return fail('libfuse 3\'s headers are missing: apt-get install libfuse3-dev pkg-config (Fedora: dnf install fuse3-devel)');
  }
}

const cc = process.env.CC || 'cc';
const args = [
  '-O2', '-g0', '-fPIC', '-shared', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror=implicit-function-declaration',
  '-fvisibility=hidden', '-DNODE_GYP_MODULE_NAME=shylock_fuse',
  `-I${nodeHeaders()}`, ...fuseFlags(),
  ...sources, '-o', `${out}.tmp`,
  '-lfuse3', '-lpthread', '-Wl,--as-needed',
];
mkdirSync(outDir, { recursive: true });
try {
  execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  execFileSync('mv', ['-f', `${out}.tmp`, out]);
} catch (e) {
  fail(`compiling the FUSE binding failed (${cc}: ${e.message.split('\n')[0]})`);
}
console.error(`shylock: built ${out.slice(root.length + 1)}`);
