export { redisBackend, AREAS, encodeName, decodeName } from './backend.js';
export { REDIS_MAX_VALUE_BYTES, REDIS_OPTIONS } from './options.js';
export type { RedisBackendOptions } from './options.js';
