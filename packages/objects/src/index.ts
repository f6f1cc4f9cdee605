export { objectBackend, DEFAULT_PART_SIZE, DEFAULT_READ_AHEAD } from './backend.js';
export type { ObjectBackendOptions } from './backend.js';
export { memoryObjectStore } from './memory-store.js';
export type { MemoryObjectStoreOptions } from './memory-store.js';
export { ObjectReader } from './reader.js';
export type { ReaderOptions } from './reader.js';
export type { ListOptions, ListPage, ObjectInfo, ObjectStore, ReadOptions, StoreLimits, UploadedPart } from './store.js';
export { OBJECT_OPTIONS } from './options.js';
export { bucketSpec, joinPrefix, readRange } from './adapter.js';
