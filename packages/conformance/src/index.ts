export { describeBackend } from './describe.js';
export { bytes, expectCode, randomName, readFile, readText, writeFile } from './context.js';
export type { ConformanceOptions, StreamDirOptions, SuiteContext } from './context.js';
