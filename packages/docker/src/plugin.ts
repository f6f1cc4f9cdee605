import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Launcher, RunningMount } from './launcher.js';
import { checkVolumeName, planVolume, VolumeError, volumeRules, type VolumePlan } from './volume.js';

const run = promisify(execFile);

/** Options of {@link createVolumePlugin}. */
export interface VolumePluginOptions {
  /** Where volumes are mounted (`<root>/volumes/<name>`) and the state file is kept. */
  root: string;
  /** Checks and mounts volumes (see `commandLauncher`). */
  launcher: Launcher;
  /** What the plugin and its volumes report, a line each (default: none). */
  log?: (line: string) => void;
}

/** A Docker volume plugin (protocol v1): answer requests, or listen on a Unix socket. */
export interface VolumePlugin {
  /** Answers one request: `endpoint` is the path (`/VolumeDriver.Mount`), `body` the JSON text. */
  handle(endpoint: string, body: string): Promise<{ status: number; body: unknown }>;
  /** Serves the protocol on a Unix socket; Docker finds `/run/docker/plugins/<driver>.sock`. */
  listen(socket: string): Promise<void>;
  /** The state file (`<root>/volumes.json`). */
  readonly stateFile: string;
  /**
   * Stops serving. Volumes in use stay mounted (containers keep using them; the next plugin
   * process takes them over); with `unmount`, every volume is unmounted first.
   */
  close(options?: { unmount?: boolean }): Promise<void>;
}

/** A volume as the state file keeps it. */
interface Stored {
  options: Record<string, string>;
  createdAt: string;
  /** Docker's mount IDs using the volume now. */
  users: string[];
  /** The mount's process, while mounted. */
  pid?: number;
}

interface Volume extends Stored {
  plan: VolumePlan;
  running?: RunningMount;
  /** Requests on one volume run one at a time. */
  queue: Promise<unknown>;
}

const STATE_VERSION = 1;

/** Unmounts a mount whose process is gone (the kernel still lists it: "Transport endpoint is not connected"). */
async function clearStale(mountpoint: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  const escaped = mountpoint.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  if (!mounts.split('\n').some((line) => line.split(' ')[1] === escaped)) return;
  await run('umount', ['-l', mountpoint]).catch(() => run('fusermount3', ['-uz', mountpoint]).catch(() => undefined));
}

/**
 * The Docker volume plugin: `docker volume create -d <driver> -o backend=redis -o host=… -o
 * qos.read=1MiB v` makes a volume; each volume in use is a mount of its backend at
 * `<root>/volumes/<name>`, made when its first container starts and unmounted when the last one
 * leaves (Docker mounts once per container, with an ID each). Volumes are kept in
 * `<root>/volumes.json` (written whole, then renamed over the old one), so a plugin that
 * restarts finds them, and takes over the mounts its predecessor left running.
 *
 * ```ts
 * const plugin = await createVolumePlugin({ root: '/var/lib/shylock/docker', launcher: commandLauncher(['shylock']) });
 * await plugin.listen('/run/docker/plugins/shylock.sock');
 * ```
 */
export async function createVolumePlugin(options: VolumePluginOptions): Promise<VolumePlugin> {
  const { root, launcher } = options;
  const log = options.log ?? (() => {});
  const stateFile = join(root, 'volumes.json');
  const volumesDir = join(root, 'volumes');
  const qosDir = join(root, 'qos');
  await mkdir(volumesDir, { recursive: true });
  await mkdir(qosDir, { recursive: true });
  const volumes = new Map<string, Volume>();
  const mountpointOf = (name: string) => join(volumesDir, name);

  // The volumes of the last run. A file that can't be read is kept aside, never dropped.
  if (existsSync(stateFile)) {
    const text = readFileSync(stateFile, 'utf8');
    try {
      const state = JSON.parse(text) as { version?: number; volumes?: Record<string, Stored> };
      if (state.version !== STATE_VERSION || typeof state.volumes !== 'object' || state.volumes === null) {
        throw new Error(`not a state file of version ${STATE_VERSION}`);
      }
      for (const [name, stored] of Object.entries(state.volumes)) {
        checkVolumeName(name);
        volumes.set(name, {
          options: stored.options,
          createdAt: stored.createdAt,
          users: Array.isArray(stored.users) ? stored.users : [],
          ...(stored.pid ? { pid: stored.pid } : {}),
          plan: planVolume(stored.options),
          queue: Promise.resolve(),
        });
      }
    } catch (e) {
      const aside = `${stateFile}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(stateFile, aside);
      volumes.clear();
      log(`the state file ${stateFile} could not be read (${(e as Error).message}): kept as ${aside}; starting with no volumes`);
    }
  }

  let saving = Promise.resolve();
  /** Writes every volume to the state file: a new file, synced, renamed over the old one. */
  const save = () => {
    saving = saving.then(async () => {
      const state = {
        version: STATE_VERSION,
        volumes: Object.fromEntries(
          [...volumes].map(([name, v]) => [
            name,
            { options: v.options, createdAt: v.createdAt, users: v.users, ...(v.running ? { pid: v.running.pid } : {}) },
          ]),
        ),
      };
      const tmp = `${stateFile}.${process.pid}.tmp`;
      const file = await open(tmp, 'w', 0o600);
      try {
        await file.writeFile(`${JSON.stringify(state, null, 2)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, stateFile);
      const dir = await open(root, 'r');
      await dir.sync().finally(() => dir.close());
    });
    return saving;
  };

  /** Runs `work` after the volume's earlier requests. */
  const serially = <T>(v: Volume, work: () => Promise<T>): Promise<T> => {
    const next = v.queue.then(work, work);
    v.queue = next.catch(() => undefined);
    return next;
  };

  const watch = (name: string, v: Volume, running: RunningMount) => {
    void running.exited.then(async (code) => {
      if (v.running !== running) return; // stopped on purpose
      v.running = undefined;
      log(`volume ${name}: its mount exited (${code === null ? 'killed' : `code ${code}`}); it is mounted again at its next use`);
      await clearStale(mountpointOf(name));
      await save().catch(() => undefined);
    });
  };

  const startMount = async (name: string, v: Volume) => {
    const mountpoint = mountpointOf(name);
    await clearStale(mountpoint);
    await mkdir(mountpoint, { recursive: true });
    const rules = volumeRules(v.plan);
    const qosFile = join(qosDir, `${name}.csv`);
    if (rules) await writeFile(qosFile, rules);
    const running = await launcher.start(v.plan, mountpoint, rules ? qosFile : undefined, (line) => log(`volume ${name}: ${line}`));
    v.running = running;
    watch(name, v, running);
  };

  // Mounts the last process left: taken over if still running, made again if in use.
  for (const [name, v] of volumes) {
    const adopted = v.pid ? launcher.adopt(v.pid, mountpointOf(name)) : undefined;
    v.pid = undefined;
    if (adopted) {
      v.running = adopted;
      watch(name, v, adopted);
      log(`volume ${name}: took over its mount (pid ${adopted.pid})`);
    } else if (v.users.length > 0) {
      await startMount(name, v).then(
        () => log(`volume ${name}: mounted again for ${v.users.length} user(s)`),
        (e: Error) => log(`volume ${name}: could not mount it again: ${e.message}`),
      );
    }
  }
  await save();

  const volume = (name: unknown) => {
    const checked = checkVolumeName(name);
    const v = volumes.get(checked);
    if (!v) throw new VolumeError(`no such volume: ${checked}`);
    return [checked, v] as const;
  };
  const info = (name: string, v: Volume) => ({
    Name: name,
    Mountpoint: v.running ? mountpointOf(name) : '',
    CreatedAt: v.createdAt,
    Status: {
      backend: v.plan.backend,
      mounted: v.running !== undefined,
      users: v.users.length,
      ...(v.plan.rule ? { qos: v.plan.rule } : {}),
    },
  });

  const endpoints: Record<string, (req: Record<string, unknown>) => Promise<unknown>> = {
    '/Plugin.Activate': async () => ({ Implements: ['VolumeDriver'] }),
    '/VolumeDriver.Capabilities': async () => ({ Capabilities: { Scope: 'local' } }),
    '/VolumeDriver.Create': async (req) => {
      const name = checkVolumeName(req.Name);
      const opts = (req.Opts ?? {}) as Record<string, string>;
      const plan = planVolume(opts);
      const existing = volumes.get(name);
      if (existing) {
        if (JSON.stringify(existing.options) === JSON.stringify(opts)) return {};
        throw new VolumeError(`volume ${name} exists with other options: remove it first (docker volume rm ${name})`);
      }
      const rules = volumeRules(plan);
      const qosFile = join(qosDir, `${name}.csv`);
      if (rules) await writeFile(qosFile, rules);
      try {
        await launcher.check(plan, mountpointOf(name), rules ? qosFile : undefined);
      } catch (e) {
        if (rules) await unlink(qosFile).catch(() => undefined);
        throw e;
      }
      volumes.set(name, { options: opts, createdAt: new Date().toISOString(), users: [], plan, queue: Promise.resolve() });
      await save();
      log(`volume ${name}: created (${plan.backend})`);
      return {};
    },
    '/VolumeDriver.Remove': async (req) => {
      const [name, v] = volume(req.Name);
      return serially(v, async () => {
        if (v.users.length > 0) {
          throw new VolumeError(`volume ${name} is in use by ${v.users.length} container mount(s): stop them first`);
        }
        await v.running?.stop();
        v.running = undefined;
        volumes.delete(name);
        await save();
        await rm(join(qosDir, `${name}.csv`), { force: true });
        await clearStale(mountpointOf(name));
        await rmdir(mountpointOf(name)).catch(() => undefined);
        log(`volume ${name}: removed (the data stays in its backend)`);
        return {};
      });
    },
    '/VolumeDriver.Mount': async (req) => {
      const [name, v] = volume(req.Name);
      const id = typeof req.ID === 'string' && req.ID !== '' ? req.ID : `anonymous-${Date.now()}`;
      return serially(v, async () => {
        if (!v.running) await startMount(name, v);
        if (!v.users.includes(id)) v.users.push(id);
        await save();
        return { Mountpoint: mountpointOf(name) };
      });
    },
    '/VolumeDriver.Unmount': async (req) => {
      const [name, v] = volume(req.Name);
      return serially(v, async () => {
        v.users = v.users.filter((u) => u !== req.ID);
        if (v.users.length === 0 && v.running) {
          const running = v.running;
          v.running = undefined;
          await running.stop();
          log(`volume ${name}: unmounted (no container uses it)`);
        }
        await save();
        return {};
      });
    },
    '/VolumeDriver.Path': async (req) => {
      const [name, v] = volume(req.Name);
      return { Mountpoint: v.running ? mountpointOf(name) : '' };
    },
    '/VolumeDriver.Get': async (req) => {
      const [name, v] = volume(req.Name);
      return { Volume: info(name, v) };
    },
    '/VolumeDriver.List': async () => ({ Volumes: [...volumes].map(([name, v]) => info(name, v)) }),
  };

  const handle = async (endpoint: string, body: string): Promise<{ status: number; body: unknown }> => {
    const answer = endpoints[endpoint];
    if (!answer)
      return { status: 404, body: { Err: `unknown endpoint ${endpoint}: this plugin serves ${Object.keys(endpoints).join(', ')}` } };
    let req: unknown = {};
    if (body.trim() !== '') {
      try {
        req = JSON.parse(body);
      } catch (e) {
        return { status: 400, body: { Err: `the request body is not JSON (${(e as Error).message})` } };
      }
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return { status: 400, body: { Err: 'the request body must be a JSON object' } };
    }
    try {
      return { status: 200, body: await answer(req as Record<string, unknown>) };
    } catch (e) {
      const status = e instanceof VolumeError ? e.status : 500;
      return { status, body: { Err: (e as Error).message } };
    }
  };

  let server: Server | undefined;
  let listening: string | undefined;
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) {
          reject(new VolumeError('the request body is over 1 MiB', 413));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  return {
    stateFile,
    handle,
    listen: async (socket) => {
      await mkdir(dirname(socket), { recursive: true });
      if (existsSync(socket)) {
        const answered = await new Promise<boolean>((resolve) => {
          const probe = connect(socket, () => {
            probe.destroy();
            resolve(true);
          });
          probe.on('error', () => resolve(false));
        });
        if (answered) throw new VolumeError(`another process serves ${socket}: stop it, or pick another --socket`);
        await unlink(socket); // left by a process that died
      }
      server = createServer((req, res) => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
          res.end(JSON.stringify(body));
        };
        if (req.method !== 'POST') return reply(405, { Err: `${req.method} is not a plugin request: Docker POSTs` });
        readBody(req).then(
          async (body) => {
            const answer = await handle(req.url ?? '/', body);
            reply(answer.status, answer.body);
          },
          (e: VolumeError) => reply(e.status ?? 400, { Err: e.message }),
        );
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(socket, () => resolve());
      });
      listening = socket;
    },
    close: async ({ unmount = false } = {}) => {
      if (server) {
        const done = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeAllConnections();
        await done;
      }
      if (listening) await unlink(listening).catch(() => undefined);
      if (unmount) {
        for (const [name, v] of volumes) {
          await serially(v, async () => {
            const running = v.running;
            v.running = undefined;
            await running?.stop();
            await clearStale(mountpointOf(name));
          });
        }
      }
      await save();
      await saving;
    },
  };
}
