export { CREATE_MODES, DATA_FILE, ZK_MAX_DATA, zookeeperBackend } from './backend.js';
export { ZOOKEEPER_OPTIONS } from './options.js';
export type { ZooKeeperBackendOptions } from './options.js';
export { zkError } from './errors.js';
