// One mount for several backends: /scratch lives in memory, /disk is a local directory.
import { compose } from '@shylock/core';
import { mount, type Mount } from '@shylock/fuse';
import { localBackend } from '@shylock/local';
import { memoryBackend } from '@shylock/memory';

export function mountComposed(diskDir: string, mountpoint: string): Promise<Mount> {
  const tree = compose({
    '/scratch': memoryBackend({ files: { '/README': 'in memory: gone at unmount\n' } }),
    '/disk': localBackend({ root: diskDir }),
  });
  return mount(tree, mountpoint);
}
