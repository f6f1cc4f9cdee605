// Two limiters sharing one budget through Redis (ioredis comes with the installed packages).
// argv[2]: Redis host:port. Prints { seconds } for 2 MiB at a shared 1 MiB/s.
import { createLimiter } from '@shylock/qos';

const shared = { redis: process.argv[2], namespace: 'npm-install', key: 'both' };
const limiters = [0, 1].map(() => createLimiter({ bytesPerSecond: 1 << 20, shared }));
const started = performance.now();
await Promise.all(
  limiters.map(async (l) => {
    for (let i = 0; i < 16; i++) await l.acquire(64 << 10);
  }),
);
const seconds = (performance.now() - started) / 1000;
for (const l of limiters) await l.close();
console.log(JSON.stringify({ seconds }));
