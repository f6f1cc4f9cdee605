import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'zookeeper', include: ['test/**/*.test.ts'], testTimeout: 30_000 } });
