// Mounts the queues of an SQS server with @shylock/sqs, makes a queue with touch, sends two
// lines from a child process (accepted by SQS before close returned), and receives them back
// with `head`, as a user's shell would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mount } from '@shylock/fuse';
import { sqsBackend } from '@shylock/sqs';

const [endpoint, dir] = process.argv.slice(2);
const m = await mount(sqsBackend({ endpoint, waitSeconds: 2, client: { credentials: { accessKeyId: 'x', secretAccessKey: 'x' } } }), dir);
try {
  const sh = (cmd) => promisify(execFile)('bash', ['-c', cmd]).then((r) => r.stdout);
  await sh(`touch ${dir}/greetings && printf 'hello from sqs\\nand again\\n' >> ${dir}/greetings`);
  const read = (await sh(`timeout 15 head -n 2 ${dir}/greetings`)).split('\n').filter(Boolean).sort();
  console.log(JSON.stringify({ read, queues: (await sh(`ls ${dir}`)).trim().split('\n') }));
} finally {
  await m.unmount();
}
