// Shell scenarios run through a mount, the same for every backend of one kind (the object stores):
// each returns what it saw, and the calling test asserts on it.
import { execFile } from 'node:child_process';

/** Runs `cmd` with bash; resolves with its exit code and output (never rejects). */
export function shell(cmd: string, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('bash', ['-c', cmd], { maxBuffer: 64 << 20, timeout: timeoutMs }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/**
 * A git repository (30 files in 4 directories, two commits) made in `work`, cloned into the
 * mount, checked with `fsck`, cloned back out and compared; its tree also tarred into the mount
 * and back out, compared. Prints `equal` when every step agreed.
 */
export function gitTarRoundTrip(mnt: string, work: string) {
  return shell(`set -e; cd ${work}
    git init -q repo && cd repo && git config user.email t@example.com && git config user.name t
    for i in $(seq 1 30); do mkdir -p d$((i % 4)); seq $i 3000 > d$((i % 4))/f$i.txt; done
    git add . && git commit -qm one && seq 1 500 > extra && git add extra && git commit -qm two && cd ..
    git clone -q --no-local file://${work}/repo ${mnt}/clone
    git -C ${mnt}/clone fsck --no-progress
    git clone -q --no-local file://${mnt}/clone ${work}/back
    test "$(git -C ${work}/back rev-parse HEAD)" = "$(git -C repo rev-parse HEAD)"
    diff -r --exclude=.git repo ${mnt}/clone
    tar -cf tree.tar -C repo --exclude=.git .
    mkdir ${mnt}/untar && tar -xmf tree.tar --no-same-owner --no-same-permissions -C ${mnt}/untar
    mkdir out && tar -cf - -C ${mnt}/untar . | tar -xf - -C out
    diff -r --exclude=.git repo out && echo equal`);
}

/** The rules {@link qosReads} expects the second mount to hold: 1 MiB/s on the blob, 10 reads/s on the directory. */
export const QOS_READ_RULES = [
  { path: '/slow/blob', readBytesPerSec: 1024 * 1024 },
  { path: '/slow', readOpsPerSec: 10 },
];

/**
 * Writes `slow/blob` (4 MiB) and `slow/n1`…`n30` through `mnt`, then reads them through `limited`
 * (the same store mounted with {@link QOS_READ_RULES}) and times each: the blob's byte count and
 * seconds, the small files' line count and seconds.
 */
export async function qosReads(mnt: string, limited: string) {
  await shell(
    `mkdir -p ${mnt}/slow && head -c 4194304 /dev/zero > ${mnt}/slow/blob && for i in $(seq 1 30); do echo $i > ${mnt}/slow/n$i; done`,
  );
  let t0 = performance.now();
  const blobBytes = Number((await shell(`cat ${limited}/slow/blob | wc -c`)).stdout.trim());
  const blobSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const smallLines = Number((await shell(`cat ${limited}/slow/n* | wc -l`)).stdout.trim());
  const smallSeconds = (performance.now() - t0) / 1000;
  return { blobBytes, blobSeconds, smallLines, smallSeconds };
}
