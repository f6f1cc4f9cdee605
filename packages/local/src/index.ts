export { localBackend } from './backend.js';
export type { LocalBackendOptions } from './backend.js';
