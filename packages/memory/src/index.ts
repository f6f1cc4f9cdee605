export { memoryBackend, MEMORY_OPTIONS } from './backend.js';
export type { MemoryBackendOptions } from './backend.js';
