import { describeBackend } from '@shylock/conformance';
import { mapBackend } from '../src/index.js';

describeBackend('map (examples/custom-backend)', () => mapBackend());
