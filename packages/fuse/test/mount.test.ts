import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBufferedHandle, defineBackend, NO_CAPABILITIES, ShylockError, type Backend } from '@shylock/core';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';
import { isMounted, mount, type Mount } from '../src/index.js';
import { sh, tempDir } from './helpers.js';

/** The same shell behaviours through a mount of each backend; `make` also returns its cleanup. */
for (const [name, make] of [
  ['memory', async (): Promise<[Backend, () => Promise<void>]> => [memoryBackend(), async () => {}]],
  [
    'local',
    async (): Promise<[Backend, () => Promise<void>]> => {
      const [dir, removeDir] = await tempDir('backing');
      return [localBackend({ root: dir }), removeDir];
    },
  ],
] as const) {
  describe(`a mount of ${name} seen from the shell`, () => {
    let m: Mount;
    let mnt: string;
    let cleanup: () => Promise<void>;
    let removeBacking: () => Promise<void> = async () => {};
    beforeAll(async () => {
      [mnt, cleanup] = await tempDir('mnt');
      const [backend, remove] = await make();
      removeBacking = remove;
      m = await mount(backend, mnt);
    });
    afterAll(async () => {
      await m?.unmount();
      await cleanup();
      await removeBacking();
    });

    it('after ls -l, a change through the mount shows in the next stat at once (listed stats are dropped)', async () => {
      const r = await sh(
        `set -e; mkdir ${mnt}/listed; for i in 1 2 3; do echo $i > ${mnt}/listed/f$i; done
         ls -l ${mnt}/listed > /dev/null; echo more >> ${mnt}/listed/f2; truncate -s 100 ${mnt}/listed/f3
         stat -c %s ${mnt}/listed/f1 ${mnt}/listed/f2 ${mnt}/listed/f3; rm ${mnt}/listed/f1; ls ${mnt}/listed; rm -r ${mnt}/listed`,
      );
      expect(r).toMatchObject({ code: 0, stdout: '2\n7\n100\nf2\nf3\n' });
    });

    it('echo > writes a file that cat reads back, and ls lists it', async () => {
      expect(await sh(`echo hello > ${mnt}/a.txt && cat ${mnt}/a.txt && ls ${mnt}`)).toMatchObject({
        code: 0,
        stdout: 'hello\na.txt\n',
      });
    });
    it('>> appends and truncate -s sets the size', async () => {
      const r = await sh(
        `cd ${mnt} && echo one > log && echo two >> log && cat log && truncate -s 2 log && stat -c %s log && truncate -s 5 log && od -An -c log`,
      );
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n').slice(0, 3)).toEqual(['one', 'two', '2']);
      expect(r.stdout).toMatch(/o\s+n\s+\\0\s+\\0\s+\\0/);
    });
    it('mkdir -p, cp -r, mv and rm -r behave as on a disk', async () => {
      const r = await sh(
        `cd ${mnt} && mkdir -p tree/a/b && echo deep > tree/a/b/f && cp -r tree copy && mv copy moved && cat moved/a/b/f && rm -r tree moved && ls`,
      );
      expect(r).toMatchObject({ code: 0 });
      expect(r.stdout).toBe('deep\na.txt\nlog\n');
    });
    it('dd writes and reads 32 MiB intact', async () => {
      const r = await sh(
        `cd ${mnt} && head -c 33554432 /dev/urandom > /tmp/shylock-dd-$$ && dd if=/tmp/shylock-dd-$$ of=big bs=1M status=none && cmp /tmp/shylock-dd-$$ big && dd if=big of=/dev/null bs=1M status=none; s=$?; rm -f /tmp/shylock-dd-$$ big; exit $s`,
        60_000,
      );
      expect(r).toMatchObject({ code: 0, stderr: '' });
    });
    it('a random write in the middle of a file changes only those bytes', async () => {
      const r = await sh(`cd ${mnt} && printf 0123456789 > rw && printf XY | dd of=rw bs=1 seek=4 conv=notrunc status=none && cat rw`);
      expect(r.stdout).toBe('0123XY6789');
    });
    it('a missing file is "No such file or directory" (ENOENT)', async () => {
      const r = await sh(`cat ${mnt}/missing`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/No such file or directory/);
    });
    it('rmdir of a non-empty directory is "Directory not empty", and rm of a directory "Is a directory"', async () => {
      const r = await sh(`cd ${mnt} && mkdir full && touch full/x && rmdir full`);
      expect(r.stderr).toMatch(/Directory not empty/);
      const u = await sh(`cd ${mnt} && rm full`);
      expect(u.stderr).toMatch(/Is a directory/);
      await sh(`rm -r ${mnt}/full`);
    });
    it('ln -s stores the target and readlink returns it; chmod and touch -d set mode and time', async () => {
      const r = await sh(
        `cd ${mnt} && echo t > target && ln -s target link && readlink link && cat link && chmod 600 target && stat -c %a target && touch -d '2020-01-02 03:04:05 UTC' target && date -u -r target +%F`,
      );
      expect(r).toMatchObject({ code: 0 });
      expect(r.stdout).toBe('target\nt\n600\n2020-01-02\n');
    });
    it('a name that is not UTF-8 is kept byte for byte', async () => {
      const r = await sh(
        `cd ${mnt} && printf latin > $'caf\\xe9' && mkdir $'d\\xff' && mv $'caf\\xe9' $'d\\xff/\\xe8' && ls $'d\\xff' | od -An -tx1 && cat $'d\\xff/\\xe8'`,
      );
      expect(r, r.stderr).toMatchObject({ code: 0 });
      expect(r.stdout.replace(/\s+/g, ' ').trim()).toBe('e8 0a latin');
    });
    it('df and stat report the mount', async () => {
      const r = await sh(`df -P ${mnt} | tail -1 && stat -f -c %T ${mnt}`);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/shylock-/);
    });
  });
}

describe('mount', () => {
  it('a read-only mount answers "Read-only file system" (EROFS) to every change', async () => {
    const [mnt, cleanup] = await tempDir('ro');
    const m = await mount(memoryBackend({ files: { '/f': 'data' } }), mnt, { readOnly: true });
    try {
      expect((await sh(`cat ${mnt}/f`)).stdout).toBe('data');
      for (const cmd of [`echo x > ${mnt}/f`, `echo x > ${mnt}/new`, `mkdir ${mnt}/d`, `rm ${mnt}/f`, `mv ${mnt}/f ${mnt}/g`]) {
        const r = await sh(cmd);
        expect(r.code, cmd).not.toBe(0);
        expect(r.stderr, cmd).toMatch(/Read-only file system/);
      }
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a name that is not UTF-8 on a backend of text names is "Invalid or incomplete multibyte or wide character" (EILSEQ)', async () => {
    const [mnt, cleanup] = await tempDir('eilseq');
    const mem = memoryBackend();
    const text = defineBackend({ ...mem, name: 'text', capabilities: { ...mem.capabilities, byteNames: false } });
    const m = await mount(text, mnt);
    try {
      const r = await sh(`echo x > ${mnt}/$'caf\\xe9'`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Invalid or incomplete multibyte or wide character/);
      expect((await sh(`echo x > ${mnt}/café && cat ${mnt}/café`)).stdout).toBe('x\n');
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a write over the backend limit fails with "File too large" (EFBIG)', async () => {
    const [mnt, cleanup] = await tempDir('efbig');
    const m = await mount(memoryBackend({ maxFileSize: 1 << 20 }), mnt);
    try {
      const r = await sh(`dd if=/dev/zero of=${mnt}/f bs=1M count=2`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/File too large/);
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a write that cannot be stored fails at close, not silently', async () => {
    // A key/value backend whose store rejects every commit: the data never lands.
    const failing: Backend = defineBackend({
      name: 'failing',
      capabilities: { ...NO_CAPABILITIES, read: true, write: true, list: true },
      stat: async (p) => {
        if (p === '/') return { type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 };
        throw new ShylockError('ENOENT', `${p}: no such file`);
      },
      list: async () => [],
      open: async (p, flags) =>
        createBufferedHandle({
          path: p,
          backend: 'failing',
          flags,
          dirty: true,
          commit: async () => {
            throw new ShylockError('EIO', 'the server refused the value');
          },
        }),
      close: async () => {},
    });
    const [mnt, cleanup] = await tempDir('eio');
    const m = await mount(failing, mnt);
    try {
      // bash ignores close() errors of a redirection; dd and cp report them.
      const r = await sh(`echo important | dd of=${mnt}/f status=none`);
      expect(r.code).not.toBe(0);
      expect(r.stderr, r.stderr).toMatch(/closing output file.*Input\/output error/);
      const c = await sh(
        `echo important > /tmp/shylock-src-$$ && cp /tmp/shylock-src-$$ ${mnt}/g; s=$?; rm -f /tmp/shylock-src-$$; exit $s`,
      );
      expect(c.code).not.toBe(0);
      expect(c.stderr, c.stderr).toMatch(/Input\/output error/);
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('stream files in a memory mount deliver each line to a reader, like tail -f', async () => {
    const [mnt, cleanup] = await tempDir('streams');
    const m = await mount(memoryBackend({ streams: ['/events'] }), mnt);
    try {
      await sh(`touch ${mnt}/events/deploys`);
      const reader = sh(`timeout 3 head -n 2 ${mnt}/events/deploys`, 10_000);
      await new Promise((r) => setTimeout(r, 500));
      await sh(`echo v1 > ${mnt}/events/deploys; echo v2 > ${mnt}/events/deploys`);
      expect((await reader).stdout).toBe('v1\nv2\n');
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a read waiting on a quiet stream ends at Ctrl-C or SIGTERM (the kernel interrupts it), and the stream goes on', async () => {
    const [mnt, cleanup] = await tempDir('interrupt');
    const m = await mount(memoryBackend({ streams: ['/events'] }), mnt);
    try {
      await sh(`touch ${mnt}/events/quiet`);
      for (const signal of ['INT', 'TERM']) {
        const t0 = performance.now();
        const r = await sh(`timeout -s ${signal} 1 cat ${mnt}/events/quiet; echo "rc=$?"`, 10_000);
        expect(r.stdout).toBe('rc=124\n');
        // Told at once (libfuse repeats its signal each second until the request ends).
        expect(performance.now() - t0).toBeLessThan(3000);
      }
      const reader = sh(`timeout 3 head -n 1 ${mnt}/events/quiet`, 10_000);
      await new Promise((r) => setTimeout(r, 300));
      await sh(`echo after > ${mnt}/events/quiet`);
      expect((await reader).stdout).toBe('after\n');
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('a missing mountpoint rejects ENOENT and a busy one EBUSY', async () => {
    await expect(mount(memoryBackend(), '/nonexistent/shylock/mnt')).rejects.toMatchObject({ code: 'ENOENT' });
    const [mnt, cleanup] = await tempDir('busy');
    const m = await mount(memoryBackend(), mnt);
    try {
      await expect(mount(memoryBackend(), mnt)).rejects.toMatchObject({ code: 'EBUSY' });
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('closed resolves after an unmount from outside; a lazy one waits for the last open file', async () => {
    const [mnt, cleanup] = await tempDir('outside');
    const m = await mount(memoryBackend({ files: { '/f': 'still readable' } }), mnt);
    try {
      let closed = false;
      void m.closed.then(() => (closed = true));
      // A reader holds the file open across a lazy unmount, then reads it.
      const reader = sh(`exec 3< ${mnt}/f; umount -l ${mnt}; sleep 1.5; cat <&3`);
      await new Promise((r) => setTimeout(r, 1000));
      expect(closed).toBe(false);
      expect((await reader).stdout).toBe('still readable');
      await Promise.race([m.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('closed did not resolve')), 5000))]);
      expect(await isMounted(mnt)).toBe(false);
    } finally {
      await m.unmount();
      await cleanup();
    }
  });
  it('unmount leaves no mount behind and may be called twice', async () => {
    const [mnt, cleanup] = await tempDir('twice');
    const m = await mount(memoryBackend(), mnt);
    expect(await isMounted(mnt)).toBe(true);
    await m.unmount();
    await m.unmount();
    expect(await isMounted(mnt)).toBe(false);
    await cleanup();
  });
});
