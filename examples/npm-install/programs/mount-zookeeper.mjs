// Mounts a ZooKeeper server with @shylock/zookeeper, makes a directory and a file from a child
// process, and reads it back with `cat`, as a user's shell would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mount } from '@shylock/fuse';
import { zookeeperBackend } from '@shylock/zookeeper';

const [connect, dir] = process.argv.slice(2);
const m = await mount(zookeeperBackend({ connect }), dir);
try {
  const sh = (cmd) => promisify(execFile)('bash', ['-c', cmd]).then((r) => r.stdout);
  await sh(`mkdir ${dir}/app && echo 'hello from zookeeper' > ${dir}/app/greeting`);
  const read = await sh(`cat ${dir}/app/greeting`);
  console.log(JSON.stringify({ read, entries: (await sh(`ls ${dir}/app`)).trim().split('\n') }));
} finally {
  await m.unmount();
}
