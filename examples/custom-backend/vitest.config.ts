import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'example-custom-backend', include: ['test/**/*.test.ts'] } });
