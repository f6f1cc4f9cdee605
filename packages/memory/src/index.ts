export { memoryBackend } from './backend.js';
export type { MemoryBackendOptions } from './backend.js';
