export { etcdBackend, DEFAULT_MAX_VALUE_BYTES, ETCD_OPTIONS } from './backend.js';
export type { EtcdBackendOptions } from './backend.js';
