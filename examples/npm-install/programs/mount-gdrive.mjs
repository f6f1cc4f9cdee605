// Mounts the Drive stand-in with @shylock/gdrive (a service account key), makes a folder and a
// file from a child process, and reads it back with `cat`, as a user's shell would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mount } from '@shylock/fuse';
import { gdriveBackend } from '@shylock/gdrive';

const [endpoint, credentials, dir] = process.argv.slice(2);
const m = await mount(gdriveBackend({ endpoint, credentials }), dir);
try {
  const sh = (cmd) => promisify(execFile)('bash', ['-c', cmd]).then((r) => r.stdout);
  await sh(`mkdir ${dir}/docs && echo 'hello from drive' > ${dir}/docs/greeting`);
  const read = await sh(`cat ${dir}/docs/greeting`);
  console.log(JSON.stringify({ read, entries: (await sh(`ls ${dir}/docs`)).trim().split('\n') }));
} finally {
  await m.unmount();
}
