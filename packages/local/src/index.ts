export { localBackend } from './backend.js';
export type { HostXattr, LocalBackendOptions } from './backend.js';
