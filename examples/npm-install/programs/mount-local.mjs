// Mounts a local directory; a time set through the mount to the nanosecond reads back exact, both ways.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { hostXattr, mount } from '@shylock/fuse';
import { localBackend } from '@shylock/local';

const [source, dir] = process.argv.slice(2);
const m = await mount(localBackend({ root: source, xattrs: hostXattr }), dir);
try {
  // Asynchronously: this process answers the mount's requests, so it must not block on them.
  const sh = async (cmd) => (await promisify(execFile)('sh', ['-c', cmd])).stdout.trim();
  await sh(
    `echo data > ${dir}/f && touch -d '2001-02-03 04:05:06.123456789' ${dir}/f && touch -d '2002-02-03 04:05:06.987654321' ${source}/g`,
  );
  const inside = await sh(`stat -c %y ${source}/f`);
  const through = await sh(`stat -c %y ${dir}/g`);
  console.log(JSON.stringify({ inside, through, read: await sh(`cat ${dir}/f`) }));
} finally {
  await m.unmount();
}
