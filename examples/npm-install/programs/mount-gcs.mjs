// Mounts a bucket of a Cloud Storage server (an emulator here) with @shylock/gcs, copies a file
// in and reads it back from a child process, and lists the bucket with the client to show the
// object is there.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { mount } from '@shylock/fuse';
import { gcsBackend } from '@shylock/gcs';

const [endpoint, bucket, dir] = process.argv.slice(2);
const storage = new Storage({ apiEndpoint: endpoint, projectId: 'app' });
await storage.createBucket(bucket);
const m = await mount(gcsBackend({ bucket, endpoint, projectId: 'app' }), dir);
try {
  const script = `const fs = require('fs'); fs.mkdirSync('${dir}/docs'); fs.writeFileSync('${dir}/docs/hello.txt', 'hello from gcs'); process.stdout.write(fs.readFileSync('${dir}/docs/hello.txt', 'utf8'))`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
  const [files] = await storage.bucket(bucket).getFiles({ prefix: 'docs/' });
  console.log(JSON.stringify({ read: stdout, keys: files.map((f) => f.name).sort() }));
} finally {
  await m.unmount();
}
