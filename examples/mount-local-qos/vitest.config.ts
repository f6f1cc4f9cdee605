import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'example-mount-local-qos', include: ['test/**/*.test.ts'], testTimeout: 120_000 },
});
