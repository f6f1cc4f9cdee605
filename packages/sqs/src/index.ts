export { ATTRIBUTES, SQS_MAX_MESSAGE, sqsBackend } from './backend.js';
export { SQS_OPTIONS } from './options.js';
export type { SqsBackendOptions } from './options.js';
export { sqsError } from './errors.js';
