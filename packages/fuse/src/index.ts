export { mount, unmountPath, isMounted } from './mount.js';
export type { Mount, MountOptions } from './mount.js';
