export { localBackend } from './backend.js';
export type { LocalBackendOptions } from './backend.js';
export type { HostXattr } from '@shylock/core';
