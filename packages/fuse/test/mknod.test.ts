import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBackend } from '@shylock/conformance';
import { localBackend } from '@shylock/local';
import { hostMknod, hostXattr, mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

// mknod(2) of a local directory comes from the binding's host calls (Node's fs has none): any
// node, Unix sockets too, with exactly the permission bits asked for.
const root = mkdtempSync(join(tmpdir(), 'shylock-mknod-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
describeBackend('local with hostMknod and hostXattr', () => localBackend({ root, mknod: hostMknod, xattrs: hostXattr }));

const S_IFSOCK = 0o140000;
const S_IFIFO = 0o010000;

describe('hostMknod', () => {
  it('makes a socket and a FIFO with exactly the mode given, whatever the umask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shylock-mknod-host-'));
    const old = process.umask(0o077);
    try {
      const b = localBackend({ root: dir, mknod: hostMknod });
      await b.mknod!('/sock', S_IFSOCK | 0o666, 0);
      await b.mknod!('/fifo', S_IFIFO | 0o640, 0);
      expect(await b.stat('/sock')).toMatchObject({ type: 'socket', mode: 0o666 });
      expect(await b.stat('/fifo')).toMatchObject({ type: 'fifo', mode: 0o640 });
      await expect(b.mknod!('/sock', S_IFSOCK | 0o666, 0)).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(b.mknod!('/missing/x', S_IFIFO | 0o644, 0)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      process.umask(old);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Unix domain socket binds and connects inside a local mount, as in the backing directory', async () => {
    const [backing, cleanBacking] = await tempDir('mknod-backing');
    const [mnt, cleanup] = await tempDir('mknod-mnt');
    const m = await mount(localBackend({ root: backing, mknod: hostMknod }), mnt);
    try {
      const script = `import os, socket, stat, sys
p = os.path.join(sys.argv[1], 'ctl.sock')
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(p)
a, _ = s.accept(); c.sendall(b'ping'); print(a.recv(4).decode(), stat.S_ISSOCK(os.stat(p).st_mode))
try:
    open(p)
except OSError as e:
    print(e.errno)`;
      const r = await sh(`/usr/bin/python3 -c "${script.replace(/"/g, '\\"')}" ${mnt}`);
      expect(r.stderr).toBe('');
      // open(2) of a socket is ENXIO (6).
      expect(r.stdout.trim().split('\n')).toEqual(['ping True', '6']);
      const onDisk = await sh(`stat -c %F ${backing}/ctl.sock`);
      expect(onDisk.stdout.trim()).toBe('socket');
    } finally {
      await m.unmount();
      await cleanup();
      await cleanBacking();
    }
  });
});
