import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readEnvFile, VolumeError, type VolumePlan } from './volume.js';

/** A volume's mount, running in a process of its own. */
export interface RunningMount {
  readonly pid: number;
  /** Resolves when the process has exited (with its exit code, or null after a signal). */
  readonly exited: Promise<number | null>;
  /** Unmounts (SIGTERM: the process unmounts and exits) and waits for the process to end. */
  stop(): Promise<void>;
}

/** How the plugin checks and mounts a volume. */
export interface Launcher {
  /** Checks a volume's plan without mounting; rejects with a VolumeError saying what to fix. */
  check(plan: VolumePlan, mountpoint: string, qosFile?: string): Promise<void>;
  /** Mounts a volume at `mountpoint`; resolves once it is mounted. `log` gets what it reports. */
  start(plan: VolumePlan, mountpoint: string, qosFile: string | undefined, log: (line: string) => void): Promise<RunningMount>;
  /** A mount left running by an earlier plugin process, if `pid` is still it. */
  adopt(pid: number, mountpoint: string): RunningMount | undefined;
}

/** How long a mount may take to come up (a remote server's first answer included). */
const START_TIMEOUT_MS = 60_000;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** A process not ours (no `exit` event): polled until it is gone. */
function foreign(pid: number): RunningMount {
  const exited = new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(timer);
        resolve(null);
      }
    }, 250);
    timer.unref();
  });
  return {
    pid,
    exited,
    stop: async () => {
      if (alive(pid)) process.kill(pid, 'SIGTERM');
      await exited;
    },
  };
}

/**
 * Runs each volume as the `shylock` command, one process per volume (a backend that crashes
 * takes only its own volume down): `command` is how to start it, e.g.
 * `[process.execPath, '/usr/lib/node_modules/@shylock/cli/dist/bin.js']`. The process is put in
 * a process group of its own, so a Ctrl-C meant for the plugin does not unmount the volumes that
 * containers are using.
 */
export function commandLauncher(command: readonly string[]): Launcher {
  const argv = (plan: VolumePlan, mountpoint: string, qosFile: string | undefined, extra: string[]) => [
    ...command.slice(1),
    plan.backend,
    ...plan.sources,
    mountpoint,
    ...plan.flags,
    ...(qosFile ? [`--qos=${qosFile}`] : []),
    ...extra,
  ];
  const env = (plan: VolumePlan) => ({ ...process.env, ...(plan.envFile !== undefined ? readEnvFile(plan.envFile) : {}) });
  /** The command's own last line, without its `shylock: ` in front, in the words of `-o` options. */
  const said = (text: string, plan: VolumePlan) =>
    (text.trim().split('\n').at(-1) ?? '')
      .replace(/^shylock: /, '')
      .replace(/unknown option --([\w-]+)/, 'unknown option -o $1')
      .replace('(see shylock --help)', `(see shylock ${plan.backend} --help for its options)`)
      .trim() || 'the mount command exited without a word';

  return {
    check: (plan, mountpoint, qosFile) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(command[0]!, argv(plan, mountpoint, qosFile, ['--check']), {
          env: env(plan),
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.on('error', (e) => reject(new VolumeError(`could not run ${command[0]}: ${e.message}`)));
        child.on('close', (code) => (code === 0 ? resolve() : reject(new VolumeError(said(err, plan), code === 2 ? 400 : 500))));
      }),
    start: (plan, mountpoint, qosFile, log) =>
      new Promise<RunningMount>((resolve, reject) => {
        const child = spawn(command[0]!, argv(plan, mountpoint, qosFile, ['--allow-other']), {
          env: env(plan),
          stdio: ['ignore', 'ignore', 'pipe'],
          detached: true,
        });
        let up = false;
        let err = '';
        let partial = '';
        const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
        const timer = setTimeout(() => {
          if (up) return;
          child.kill('SIGTERM');
          reject(new VolumeError(`the mount did not come up within ${START_TIMEOUT_MS / 1000} s: ${said(err, plan)}`));
        }, START_TIMEOUT_MS);
        child.stderr.on('data', (d: Buffer) => {
          partial += d.toString();
          const lines = partial.split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            if (!up) err += `${line}\n`;
            log(line.replace(/^shylock: /, ''));
            if (!up && line.startsWith('shylock: mounted ')) {
              up = true;
              clearTimeout(timer);
              resolve({
                pid: child.pid!,
                exited,
                stop: async () => {
                  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
                  await exited;
                },
              });
            }
          }
        });
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(new VolumeError(`could not run ${command[0]}: ${e.message}`));
        });
        void exited.then((code) => {
          if (up) return;
          clearTimeout(timer);
          reject(new VolumeError(said(err + partial, plan), code === 2 ? 400 : 500));
        });
      }),
    adopt: (pid, mountpoint) => {
      if (!alive(pid)) return undefined;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return undefined;
      }
      // The pid may have been reused by something else: it must be our mount of this volume.
      if (!cmdline.split('\0').includes(mountpoint)) return undefined;
      return foreign(pid);
    },
  };
}
