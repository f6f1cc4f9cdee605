export { mount, unmountPath, isMounted, hostXattr } from './mount.js';
export type { Mount, MountOptions } from './mount.js';
