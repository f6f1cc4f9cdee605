import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 's3',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // The SDK's notice that it will drop Node 20 next year, once per test file, is noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
