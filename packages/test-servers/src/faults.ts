// Fault injection through a mount: a server killed while a file is open for writing.
import { spawn } from 'node:child_process';

/** What a writer saw when the server died between its write and its close. */
export interface KilledDuringWrite {
  /** errno of close(2) (0: it succeeded), and of a listing and a read made after it. */
  close: number;
  list: number;
  read: number;
  /** Seconds from the kill to the end of all three. */
  seconds: number;
}

/**
 * Opens `file` (a path through a mount) for writing, writes to it, then calls `kill` (the server
 * dies) and closes the file, lists its directory and reads `readable`, each from a separate
 * process's point of view as a user's program would. Nothing here waits forever: a hang fails the
 * caller's test by its timeout.
 */
export async function killDuringWrite(file: string, readable: string, kill: () => Promise<void>): Promise<KilledDuringWrite> {
  const script = `import os, sys, time
p, q = sys.argv[1], sys.argv[2]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'never stored\\n')
print('written', flush=True)
sys.stdin.readline()
t = time.time()
def errno_of(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno
c = errno_of(lambda: os.close(fd))
l = errno_of(lambda: os.listdir(os.path.dirname(p)))
r = errno_of(lambda: open(q, 'rb').read())
print(c, l, r, time.time() - t, flush=True)`;
  const child = spawn('python3', ['-c', script, file, readable], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (out.includes('written')) {
        clearInterval(check);
        resolve();
      }
    }, 20);
    void exited.then(() => {
      clearInterval(check);
      reject(new Error(`the writer ended before writing: ${err}`));
    });
  });
  await kill();
  child.stdin.write('\n');
  await exited;
  const line = out.trim().split('\n').pop()!;
  const [close, list, read, seconds] = line.split(' ').map(Number) as [number, number, number, number];
  if (Number.isNaN(seconds)) throw new Error(`the writer printed ${JSON.stringify(out)} ${err}`);
  return { close, list, read, seconds };
}
