// Servers that run on the JVM: Apache Kafka (KRaft), ElasticMQ (SQS) and ZooKeeper.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installed, mavenLib, step } from './cache.js';
import { ensureDebian, freePort, serverHandle, type TestServer, waitFor } from './process.js';

/** A data directory in memory where there is one. */
const scratch = (name: string) => mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `shylock-${name}-`));

/** The last lines of a log, for an error saying why a server did not come up. */
async function tail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Sends a line to a TCP port and resolves with what comes back before the server closes. */
function ask(port: number, line: string, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no answer'))), ms);
    socket.on('connect', () => socket.write(line));
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', (e) => (clearTimeout(timer), reject(e)));
    socket.on('close', () => (clearTimeout(timer), resolve(answer)));
  });
}

/** True once something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

/** Starts `java` with a log file; a server that does not come up fails with the log's last lines. */
async function startJava(what: string, args: string[], log: string, ready: () => Promise<boolean>, ms: number): Promise<ChildProcess> {
  const { openSync } = await import('node:fs');
  const fd = openSync(log, 'a');
  const child = spawn('java', args, { stdio: ['ignore', fd, fd] });
  try {
    await waitFor(ready, what, child, ms);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n--- ${log} ---\n${await tail(log)}`);
  }
  return child;
}

export const KAFKA_VERSION = '3.9.1';

/**
 * Starts Apache Kafka 3.9 in KRaft mode, one combined broker and controller, from Maven Central's
 * jars (installed once into the cache), with a 512 MiB heap. `endpoint` is `127.0.0.1:<port>`.
 */
export async function startKafka(): Promise<TestServer> {
  const home = await installed('kafka', KAFKA_VERSION, (dir) =>
    mavenLib(dir, [`org.apache.kafka:kafka_2.13:${KAFKA_VERSION}`, 'org.slf4j:slf4j-reload4j:1.7.36']).then(() => undefined),
  );
  const cp = `${join(home, 'lib')}/*`;
  const dir = await scratch('kafka');
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const controller = await freePort();
  const props = join(dir, 'server.properties');
  await writeFile(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${proc.port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${proc.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'logs')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
    ].join('\n') + '\n',
  );
  await writeFile(
    join(dir, 'log4j.properties'),
    'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\nlog4j.logger.kafka.server.KafkaRaftServer=INFO\n',
  );
  const id = (await step('kafka storage id', 'java', ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'])).stdout.trim();
  await step('kafka storage format', 'java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', props, '--ignore-formatted']);
  const log = join(dir, 'kafka.log');
  const start = async () => {
    proc.child = await startJava(
      'kafka',
      [
        '-Xmx512m',
        '-Xms128m',
        '-XX:+UseSerialGC',
        `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
        '-cp',
        cp,
        'kafka.Kafka',
        props,
      ],
      log,
      async () => (await readFile(log, 'utf8')).includes('Kafka Server started') && (await listening(proc.port)),
      60_000,
    );
  };
  await start();
  return serverHandle(proc, () => `127.0.0.1:${proc.port}`, start, dir);
}

export const ELASTICMQ_VERSION = '1.7.1';

/**
 * Starts ElasticMQ (an SQS-compatible server, from Maven Central) on a free loopback port.
 * `endpoint` is `http://127.0.0.1:<port>`; any region and credentials are accepted.
 */
export async function startSqs(): Promise<TestServer> {
  const home = await installed('elasticmq', ELASTICMQ_VERSION, (dir) =>
    mavenLib(dir, [`org.elasticmq:elasticmq-server_2.13:${ELASTICMQ_VERSION}`]).then(() => undefined),
  );
  const dir = await scratch('sqs');
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const conf = join(dir, 'elasticmq.conf');
  await writeFile(
    conf,
    `include classpath("application.conf")
node-address { protocol = http, host = "127.0.0.1", port = ${proc.port}, context-path = "" }
rest-sqs { enabled = true, bind-port = ${proc.port}, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
`,
  );
  const log = join(dir, 'elasticmq.log');
  const start = async () => {
    proc.child = await startJava(
      'elasticmq',
      ['-Xmx256m', '-XX:+UseSerialGC', `-Dconfig.file=${conf}`, '-cp', `${join(home, 'lib')}/*`, 'org.elasticmq.server.Main'],
      log,
      async () => (await fetch(`http://127.0.0.1:${proc.port}/?Action=ListQueues`)).status < 500,
      60_000,
    );
  };
  await start();
  return serverHandle(proc, () => `http://127.0.0.1:${proc.port}`, start, dir);
}

/**
 * Starts ZooKeeper 3.8 (Debian `zookeeper`) on a free loopback port, no admin server, with the
 * four-letter words `ruok` and `srvr`. Ready when `ruok` answers `imok`. `endpoint` is `127.0.0.1:<port>`.
 */
export async function startZooKeeper(): Promise<TestServer> {
  await ensureDebian(['zookeeper']);
  const dir = await scratch('zookeeper');
  const proc: { child?: ChildProcess; port: number } = { port: await freePort() };
  const cfg = join(dir, 'zoo.cfg');
  await writeFile(
    cfg,
    [
      'tickTime=2000',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${proc.port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr',
      'maxClientCnxns=0',
    ].join('\n') + '\n',
  );
  const jars = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-simple.jar', 'netty.jar', 'commons-cli.jar']
    .map((j) => join('/usr/share/java', j))
    .filter((j) => existsSync(j));
  const log = join(dir, 'zookeeper.log');
  const start = async () => {
    proc.child = await startJava(
      'zookeeper',
      ['-Xmx256m', '-XX:+UseSerialGC', '-cp', jars.join(':'), 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg],
      log,
      async () => (await ask(proc.port, 'ruok')) === 'imok',
      30_000,
    );
  };
  await start();
  return serverHandle(proc, () => `127.0.0.1:${proc.port}`, start, dir);
}
