import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'sqs', include: ['test/**/*.test.ts'], testTimeout: 30_000 } });
