import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'example-qos-http-server', include: ['test/**/*.test.ts'] } });
