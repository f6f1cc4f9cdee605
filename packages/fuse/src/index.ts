export { mount, hostMknod, hostXattr } from './mount.js';
export { unmountPath, isMounted } from './mountpoints.js';
export type { Mount, MountOptions } from './options.js';
