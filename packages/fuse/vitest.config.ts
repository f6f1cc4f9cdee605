import { defineProject } from 'vitest/config';

// Mounts are slow to set up and share /dev/fuse: one file at a time, in forked processes.
export default defineProject({
  test: { name: 'fuse', include: ['test/**/*.test.ts'], fileParallelism: false, testTimeout: 60_000 },
});
