import { defineConfig } from 'vitest/config';

// One run for the whole monorepo: each package and example is a project with its own config.
// FUSE mounts need the main thread of a process, so test files run in forked processes.
export default defineConfig({
  test: {
    projects: ['packages/*', 'examples/*'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
