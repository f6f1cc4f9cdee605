export { etcdBackend, DEFAULT_MAX_VALUE_BYTES } from './backend.js';
export type { EtcdBackendOptions } from './backend.js';
