import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'docker', include: ['test/**/*.test.ts'], fileParallelism: false, testTimeout: 60_000 },
});
