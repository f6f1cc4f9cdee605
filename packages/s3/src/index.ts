export { s3Backend, S3_OPTIONS } from './backend.js';
export type { S3BackendOptions } from './backend.js';
export { s3Store, S3_LIMITS } from './store.js';
export type { S3StoreOptions } from './store.js';
export { s3Error } from './errors.js';
