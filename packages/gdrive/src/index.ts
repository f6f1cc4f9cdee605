export { gdriveBackend, GDRIVE_OPTIONS, type GdriveBackendOptions } from './backend.js';
export { displayNames, driveStore, DRIVE_LIMITS, DRIVE_SCOPE, EXPORTS, type DriveStoreOptions } from './store.js';
export { driveError } from './errors.js';
