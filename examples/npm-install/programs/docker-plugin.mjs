// The Docker volume plugin from its tarball: a memory volume made, mounted (by the packed
// shylock command, in a process of its own), written, read, unmounted and removed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLauncher, createVolumePlugin } from '@shylock/docker';

const root = process.argv[2];
const bin = join(process.cwd(), 'node_modules', '@shylock', 'cli', 'dist', 'bin.js');
const plugin = await createVolumePlugin({ root, launcher: commandLauncher([process.execPath, bin]) });
const call = async (endpoint, req) => (await plugin.handle(endpoint, JSON.stringify(req))).body;
try {
  const created = await call('/VolumeDriver.Create', { Name: 'notes', Opts: { backend: 'memory', 'qos.read': '1MiB' } });
  const { Mountpoint } = await call('/VolumeDriver.Mount', { Name: 'notes', ID: 'c1' });
  writeFileSync(join(Mountpoint, 'hello.txt'), 'hello from a volume\n');
  const read = readFileSync(join(Mountpoint, 'hello.txt'), 'utf8');
  await call('/VolumeDriver.Unmount', { Name: 'notes', ID: 'c1' });
  const mounted = readFileSync('/proc/mounts', 'utf8').includes(Mountpoint);
  const removed = await call('/VolumeDriver.Remove', { Name: 'notes' });
  console.log(JSON.stringify({ created, read, mounted, removed }));
} finally {
  await plugin.close({ unmount: true });
}
