import { describeBackend } from '@shylock/conformance';
import { memoryBackend } from '../src/index.js';

describeBackend('memory', () => memoryBackend({ streams: ['/streams'] }), {
  streams: { dir: '/streams', fanout: true },
});
describeBackend('memory (xattrs: true)', () => memoryBackend({ xattrs: true }));
