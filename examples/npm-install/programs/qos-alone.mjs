// @shylock/qos in a plain Node program: a 64 KiB/s limiter with a 4 KiB burst paces 96 KiB over
// about a second and a half.
import { createLimiter } from '@shylock/qos';

const limiter = createLimiter({ bytesPerSecond: 64 * 1024, burst: { bytes: 4096 } });
const start = performance.now();
for (let i = 0; i < 24; i++) await limiter.acquire(4096);
console.log(JSON.stringify({ seconds: (performance.now() - start) / 1000 }));
