export { mount, hostXattr } from './mount.js';
export { unmountPath, isMounted } from './mountpoints.js';
export type { Mount, MountOptions } from './options.js';
