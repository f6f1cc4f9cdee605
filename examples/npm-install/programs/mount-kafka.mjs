// Mounts the topics of a Kafka broker with @shylock/kafka, appends two lines to a topic from a
// child process (each a message the broker acknowledged before close returned), and follows the
// topic back with `head`, as a user's shell would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mount } from '@shylock/fuse';
import { kafkaBackend } from '@shylock/kafka';

const [brokers, dir] = process.argv.slice(2);
const m = await mount(kafkaBackend({ brokers }), dir);
try {
  const sh = (cmd) => promisify(execFile)('bash', ['-c', cmd]).then((r) => r.stdout);
  await sh(`echo 'hello from kafka' >> ${dir}/greetings && echo 'and again' >> ${dir}/greetings`);
  const read = await sh(`timeout 15 head -n 2 ${dir}/greetings`);
  console.log(JSON.stringify({ read, topics: (await sh(`ls ${dir}`)).trim().split('\n') }));
} finally {
  await m.unmount();
}
