export { kafkaBackend, KAFKA_MAX_MESSAGE } from './backend.js';
export { KAFKA_OPTIONS } from './options.js';
export type { KafkaBackendOptions } from './options.js';
export { kafkaError } from './errors.js';
