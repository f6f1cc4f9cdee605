import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';
import { createPolicy, qosLayer } from '@shylock/qos';
import { hostXattr, mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

// Extended attributes of a local directory come from the binding's host calls (Node's fs has
// none): the conformance suite on the backend itself, then through mounts.
const root = mkdtempSync(join(tmpdir(), 'shylock-xattr-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
describeBackend('local with hostXattr', () => localBackend({ root, xattrs: hostXattr }));
describeBackend('qosLayer(local with hostXattr)', () =>
  qosLayer(createPolicy([{ path: '/', writeOpsPerSec: 1e6 }]))(localBackend({ root, xattrs: hostXattr })),
);

const py = (script: string, dir: string) => sh(`/usr/bin/python3 -c "${script.replace(/"/g, '\\"')}" ${dir}`);

describe('extended attributes through a mount', () => {
  it('a local mount keeps setfattr-style attributes on the backing file; a read-only mount refuses EROFS', async () => {
    const [backing, removeBacking] = await tempDir('xattr-backing');
    const [mnt, cleanup] = await tempDir('xattr-mnt');
    const [ro, cleanupRo] = await tempDir('xattr-ro');
    const policy = createPolicy([{ path: '/', writeOpsPerSec: 1e6 }]);
    const m = await mount(localBackend({ root: backing, xattrs: hostXattr }), mnt, { qos: policy });
    const mr = await mount(localBackend({ root: backing, xattrs: hostXattr }), ro, { readOnly: true });
    try {
      await writeFile(join(backing, 'f'), 'x');
      const writeOps = () => policy.stats()[0]!.write.ops;
      const before = writeOps();
      const r = await py(
        `import os, sys
d = sys.argv[1]
os.setxattr(d + '/f', 'user.origin', b'camera 7')
print(os.getxattr(d + '/f', 'user.origin').decode(), sorted(os.listxattr(d + '/f')))`,
        mnt,
      );
      expect(r.stdout.trim(), r.stderr).toBe("camera 7 ['user.origin']");
      expect(writeOps() - before).toBe(1); // setxattr is a write op; getxattr and listxattr are free
      const host = await py(`import os, sys; print(os.getxattr(sys.argv[1] + '/f', 'user.origin').decode())`, backing);
      expect(host.stdout.trim()).toBe('camera 7');
      const refused = await py(
        `import os, sys
d = sys.argv[1]
print(os.getxattr(d + '/f', 'user.origin').decode())
try: os.setxattr(d + '/f', 'user.x', b'1')
except OSError as e: print(e.strerror)`,
        ro,
      );
      expect(refused.stdout.trim().split('\n')).toEqual(['camera 7', 'Read-only file system']);
    } finally {
      await Promise.allSettled([m.unmount(), mr.unmount()]);
      await Promise.all([cleanup(), cleanupRo(), removeBacking()]);
    }
  });
  it('a memory mount with xattrs keeps them in memory, with Linux limits', async () => {
    const [mnt, cleanup] = await tempDir('xattr-memory');
    const m = await mount(memoryBackend({ files: { '/f': 'x' }, xattrs: true }), mnt);
    try {
      const r = await py(
        `import os, sys
f = sys.argv[1] + '/f'
os.setxattr(f, 'user.a', b'1')
os.setxattr(f, 'user.b', b'2')
os.removexattr(f, 'user.b')
out = [os.getxattr(f, 'user.a').decode(), ','.join(os.listxattr(f))]
for name, value in (('user.big', b'x' * 65537), ('nonamespace', b'1')):
    try: os.setxattr(f, name, value)
    except OSError as e: out.append(e.strerror)
print('|'.join(out))`,
        mnt,
      );
      expect(r.stdout.trim(), r.stderr).toBe('1|user.a|Argument list too long|Operation not supported');
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a backend without extended attributes answers "Operation not supported"', async () => {
    const [mnt, cleanup] = await tempDir('xattr-none');
    const m = await mount(memoryBackend({ files: { '/f': 'x' } }), mnt);
    try {
      const r = await py(
        `import os, sys
try: os.setxattr(sys.argv[1] + '/f', 'user.a', b'1')
except OSError as e: print(e.strerror)`,
        mnt,
      );
      expect(r.stdout.trim()).toBe('Operation not supported');
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
});
