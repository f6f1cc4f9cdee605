export { createVolumePlugin, type VolumePlugin, type VolumePluginOptions } from './plugin.js';
export { commandLauncher, type Launcher, type RunningMount } from './launcher.js';
export { checkVolumeName, planVolume, readEnvFile, VolumeError, volumeRules, type VolumePlan } from './volume.js';
