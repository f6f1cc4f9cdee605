import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'local', include: ['test/**/*.test.ts'] } });
