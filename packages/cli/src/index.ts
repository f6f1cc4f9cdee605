export { run, BACKENDS } from './cli.js';
