// Mounts @shylock/memory with a QoS rule, writes and reads a file from a child process, unmounts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mount } from '@shylock/fuse';
import { memoryBackend } from '@shylock/memory';
import { createPolicy } from '@shylock/qos';

const dir = process.argv[2];
const policy = createPolicy([{ path: '/slow', readBytesPerSec: 1 << 20 }]);
const m = await mount(memoryBackend(), dir, { qos: policy });
try {
  const script = `const fs = require('fs'); fs.mkdirSync('${dir}/slow'); fs.writeFileSync('${dir}/slow/hello.txt', 'hello from npm'); process.stdout.write(fs.readFileSync('${dir}/slow/hello.txt', 'utf8'))`;
  // Asynchronously: this process answers the mount's requests, so it must not block on them.
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
  console.log(stdout);
} finally {
  await m.unmount();
}
