import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commandLauncher, createVolumePlugin, type VolumePlugin } from '@shylock/docker';
import type { Io } from './cli.js';

const DEFAULT_SOCKET = '/run/docker/plugins/shylock.sock';
const DEFAULT_ROOT = '/var/lib/shylock/docker';

const HELP = `shylock docker — serve every shylock backend as Docker volumes (a volume plugin)

Usage: shylock docker [--socket PATH | --spec FILE] [--root DIR]

  --socket <path>      the plugin's Unix socket; Docker finds /run/docker/plugins/<driver>.sock,
                       and the driver's name is the socket's (default ${DEFAULT_SOCKET})
                                                                       [$SHYLOCK_DOCKER_SOCKET]
  --spec <file>        also write a spec file pointing at the socket, for Docker to find the
                       plugin by (e.g. /etc/docker/plugins/shylock.spec: the driver is
                       "shylock"); the socket is then <root>/plugin.sock unless --socket
                       names one. Removed when the plugin stops.
  --root <dir>         where volumes are mounted (<dir>/volumes/<name>) and the state file
                       volumes.json is kept (default ${DEFAULT_ROOT})   [$SHYLOCK_DOCKER_ROOT]
  --unmount-on-exit    unmount every volume when the plugin stops (default: volumes in use
                       stay mounted for their containers; the next plugin takes them over)
  -h, --help           show this help

  A volume is made with -o options: backend=<name> (required), source=<dir or bucket> for the
  backends that take one, qos.read / qos.write (bytes a second, e.g. 1MiB), qos.read-ops /
  qos.write-ops (operations a second) over the whole volume, qos=<file> for rules inside it,
  env-file=<file> for secrets (NAME=value lines given to the mount), read-only=true, and every
  flag of 'shylock <backend>' by its name (host=cache:6379 is --host cache:6379). Each volume in
  use is a 'shylock <backend>' process of its own, mounted when the first container starts and
  unmounted when the last one leaves. Options are checked when the volume is created.

Examples:
  shylock docker
  docker volume create -d shylock -o backend=redis -o host=cache:6379 cache
  docker volume create -d shylock -o backend=local -o source=/srv/data -o qos.read=1MiB data
  docker volume create -d shylock -o backend=s3 -o source=photos/2026 -o region=eu-west-1 \\
      -o env-file=/etc/shylock/aws.env -o qos.read-ops=200 photos
  docker run --rm -v data:/data busybox cat /data/hello.txt

Ctrl-C or SIGTERM stops the plugin.`;

/** `shylock docker`: the volume plugin, in the foreground until a signal. */
export async function runDocker(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let values: { socket?: string; spec?: string; root?: string; 'unmount-on-exit'?: boolean; help?: boolean };
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        spec: { type: 'string' },
        root: { type: 'string' },
        'unmount-on-exit': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    if (parsed.positionals.length > 0) {
      io.log(`shylock docker takes no arguments, got "${parsed.positionals.join(' ')}" (see shylock docker --help)`);
      return 2;
    }
  } catch (e) {
    const unknown = /^Unknown option '([^']+)'/.exec((e as Error).message);
    io.log(`${unknown ? `unknown option ${unknown[1]}` : (e as Error).message.split('\n')[0]} (see shylock docker --help)`);
    return 2;
  }
  if (values.help) {
    io.out(`${HELP}\n`);
    return 0;
  }
  const root = resolve(values.root ?? (env.SHYLOCK_DOCKER_ROOT || DEFAULT_ROOT));
  const spec = values.spec === undefined ? undefined : resolve(values.spec);
  if (spec !== undefined && !spec.endsWith('.spec')) {
    io.log(`--spec ${spec}: Docker finds a plugin by a file named <driver>.spec`);
    return 2;
  }
  const socket = resolve(values.socket ?? (env.SHYLOCK_DOCKER_SOCKET || (spec ? join(root, 'plugin.sock') : DEFAULT_SOCKET)));
  if (spec === undefined && !socket.endsWith('.sock')) {
    io.log(`--socket ${socket}: Docker finds a plugin by a socket named <driver>.sock (or give --spec)`);
    return 2;
  }
  const bin = fileURLToPath(new URL('./bin.js', import.meta.url));
  let plugin: VolumePlugin;
  try {
    plugin = await createVolumePlugin({ root, launcher: commandLauncher([process.execPath, bin]), log: io.log });
    await plugin.listen(socket);
    if (spec) {
      await mkdir(dirname(spec), { recursive: true });
      await writeFile(spec, `unix://${socket}\n`);
    }
  } catch (e) {
    io.log((e as Error).message);
    return 1;
  }
  const driver = spec ? basename(spec, '.spec') : basename(socket, '.sock');
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.log(`${signal}: stopping the plugin${values['unmount-on-exit'] ? ' and unmounting every volume' : ''}`);
      try {
        if (spec) await rm(spec, { force: true });
        await plugin.close({ unmount: values['unmount-on-exit'] ?? false });
        done(0);
      } catch (e) {
        io.log(`stopping failed: ${(e as Error).message}`);
        done(1);
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      }
    };
    const onInt = () => void stop('SIGINT');
    const onTerm = () => void stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    io.log(
      `serving Docker volumes as driver "${driver}" on ${socket}${spec ? ` (spec file ${spec})` : ''}; volumes under ${root}. Ctrl-C stops.`,
    );
  });
}
