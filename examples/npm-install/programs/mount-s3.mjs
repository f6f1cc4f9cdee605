// Mounts a bucket of an S3 server with @shylock/s3 (credentials from the AWS environment
// variables, as the SDK's chain reads them), copies a file in and reads it back from a child
// process, and lists the bucket with the SDK to show the object is there.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mount } from '@shylock/fuse';
import { s3Backend } from '@shylock/s3';

const [endpoint, bucket, dir] = process.argv.slice(2);
const m = await mount(s3Backend({ bucket, endpoint }), dir);
try {
  const script = `const fs = require('fs'); fs.mkdirSync('${dir}/docs'); fs.writeFileSync('${dir}/docs/hello.txt', 'hello from s3'); process.stdout.write(fs.readFileSync('${dir}/docs/hello.txt', 'utf8'))`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
  const client = new S3Client({ endpoint, region: process.env.AWS_REGION, forcePathStyle: true });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'docs/' }));
  console.log(JSON.stringify({ read: stdout, keys: (listed.Contents ?? []).map((c) => c.Key).sort() }));
  client.destroy();
} finally {
  await m.unmount();
}
