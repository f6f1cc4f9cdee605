import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'qos', include: ['test/**/*.test.ts'] } });
