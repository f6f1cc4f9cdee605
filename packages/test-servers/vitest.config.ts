import { defineProject } from 'vitest/config';

// Real servers: the first run on a machine installs them (Maven Central, the Go module proxy).
export default defineProject({
  test: { name: 'test-servers', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 600_000 },
});
