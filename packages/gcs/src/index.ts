export { gcsBackend, GCS_OPTIONS } from './backend.js';
export type { GcsBackendOptions } from './backend.js';
export { gcsStore, GCS_LIMITS } from './store.js';
export type { GcsStoreOptions } from './store.js';
export { gcsError } from './errors.js';
