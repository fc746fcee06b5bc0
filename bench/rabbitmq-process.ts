/**
 * A private RabbitMQ node for benchmarks that compare Ferry with it: its own
 * Mnesia and log directories, node name, cookie (HOME), config files and epmd,
 * all bound to 127.0.0.1 on free ports, so it neither meets nor disturbs a
 * RabbitMQ the machine may run as a service. {@link RabbitMqProcess.locate}
 * finds the start script (null when RabbitMQ is not installed);
 * {@link RabbitMqProcess.start} resolves once the node accepts AMQP
 * connections; `stop()` ends it by the pid of its Erlang VM (beam.smp), then
 * its epmd.
 *
 * Process tree: start script (sh) → beam.smp (the broker, whose CPU time and
 * memory are RabbitMQ's) → helpers; epmd runs beside it as our own child.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import { OwnedProcess } from './owned-process.js';

/** How long a node may take to boot (RabbitMQ 3.x boots in 3 to 10 s). */
const START_TIMEOUT_MS = 90_000;
/** How long a graceful shutdown may take before the VM is killed. */
const STOP_TIMEOUT_MS = 30_000;
/** Where Debian's and RabbitMQ's own packages put the script that runs the node as the current user. */
const PACKAGED_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** A running private RabbitMQ node. */
export class RabbitMqProcess {
  readonly name = 'rabbitmq';

  private constructor(
    private readonly script: OwnedProcess,
    private readonly epmd: OwnedProcess,
    /** The Erlang VM: the pid whose CPU time and memory are the broker's. */
    readonly pid: number,
    /** The AMQP port it listens on, on 127.0.0.1. */
    readonly amqpPort: number,
  ) {}

  /**
   * The start script to run, or null with the reason when RabbitMQ (or the
   * epmd it needs) is not installed. The packaged script under /usr/lib is
   * preferred: /usr/sbin/rabbitmq-server switches to the `rabbitmq` user,
   * which could not write our directories.
   */
  static locate(): { script: string; epmd: string } | { missing: string } {
    const script = fs.existsSync(PACKAGED_SCRIPT) ? PACKAGED_SCRIPT : findInPath('rabbitmq-server');
    if (script === null) return { missing: 'rabbitmq-server is not installed (apt-get install rabbitmq-server)' };
    const epmd = findInPath('epmd');
    if (epmd === null) return { missing: 'rabbitmq-server is installed but epmd (Erlang) is not on PATH' };
    return { script, epmd };
  }

  /**
   * Boots a node with everything under `directory` and resolves once an
   * amqplib connection succeeds (guest/guest from 127.0.0.1). On failure the
   * processes are stopped and the error carries the tail of the node's output.
   */
  static async start(directory: string, executables: { script: string; epmd: string }): Promise<RabbitMqProcess> {
    fs.mkdirSync(directory, { recursive: true });
    const [amqpPort, distributionPort, epmdPort] = await freePorts(3);
    // ERL_EPMD_ADDRESS would bind an epmd that erl starts itself, but that one daemonizes and outlives us; ours is our child.
    const epmd = new OwnedProcess(
      spawn(executables.epmd, ['-address', '127.0.0.1', '-port', String(epmdPort)], { stdio: ['ignore', 'ignore', 'inherit'] }),
      'epmd',
    );
    const outputPath = path.join(directory, 'output.txt');
    const output = fs.openSync(outputPath, 'w');
    const configPath = path.join(directory, 'rabbitmq.conf');
    fs.writeFileSync(configPath, '# Defaults only: the benchmark sets listeners through the environment.\n');
    const pluginsPath = path.join(directory, 'enabled_plugins');
    fs.writeFileSync(pluginsPath, '[].\n');
    const pidPath = path.join(directory, 'rabbitmq.pid');
    const environment: NodeJS.ProcessEnv = {
      ...process.env,
      // The Erlang cookie is created in HOME.
      HOME: directory,
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_NODENAME: `ferry-bench-${process.pid}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(amqpPort),
      RABBITMQ_DIST_PORT: String(distributionPort),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_MNESIA_BASE: path.join(directory, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(directory, 'log'),
      RABBITMQ_CONFIG_FILE: configPath,
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(directory, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: pluginsPath,
      RABBITMQ_PID_FILE: pidPath,
      // Not the machine's /etc/rabbitmq/rabbitmq-env.conf.
      RABBITMQ_CONF_ENV_FILE: '/dev/null',
    };
    let script: OwnedProcess | null = null;
    try {
      await waitForEpmd(epmdPort, epmd, 10_000);
      script = new OwnedProcess(spawn(executables.script, [], { cwd: directory, env: environment, stdio: ['ignore', output, output] }), 'rabbitmq');
      await waitForAmqp(amqpPort, script, START_TIMEOUT_MS);
      const beamPid = beamPidOf(pidPath, script.pid);
      script.descendantPids.push(beamPid);
      return new RabbitMqProcess(script, epmd, beamPid, amqpPort);
    } catch (error) {
      const tail = fs.readFileSync(outputPath, 'utf8').split('\n').slice(-15).join('\n');
      if (script !== null) {
        const beamPid = findDescendant(script.pid, 'beam.smp');
        if (beamPid !== null) script.descendantPids.push(beamPid);
        await script.stop(STOP_TIMEOUT_MS, beamPid ?? script.pid);
      }
      await epmd.stop(5_000);
      throw new Error(`${error instanceof Error ? error.message : String(error)}; node output:\n${tail}`);
    } finally {
      fs.closeSync(output);
    }
  }

  /** Stops the VM gracefully by its pid (SIGTERM, as `rabbitmqctl stop` would), killed after 30 s; then its epmd. */
  async stop(): Promise<void> {
    await this.script.stop(STOP_TIMEOUT_MS, this.pid);
    await this.epmd.stop(5_000);
  }
}

function findInPath(name: string): string | null {
  for (const directory of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (directory === '') continue;
    const candidate = path.join(directory, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** `count` distinct ports free on 127.0.0.1 just now (another process may still take one before use). */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/**
 * Polls until epmd on `port` answers a NAMES_REQ (a request epmd logs no
 * complaint about, unlike a bare connection); rejects when `owner` exits or
 * after `timeoutMs`.
 */
async function waitForEpmd(port: number, owner: OwnedProcess, timeoutMs: number): Promise<void> {
  const deadlineMs = performance.now() + timeoutMs;
  while (performance.now() < deadlineMs) {
    if (owner.exitStatus !== null) throw new Error(`${owner.name} exited with code ${owner.exitStatus.code} while starting`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      // Erlang distribution protocol: a 2-byte length, then NAMES_REQ (110); epmd answers and closes.
      socket.once('connect', () => socket.write(Uint8Array.of(0, 1, 110)));
      socket.once('data', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (connected) return;
    await delay(100);
  }
  throw new Error(`${owner.name}: nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Polls until an amqplib connection succeeds (the listener opens before the broker is fully booted on some versions). */
async function waitForAmqp(port: number, owner: OwnedProcess, timeoutMs: number): Promise<void> {
  const deadlineMs = performance.now() + timeoutMs;
  let lastError: unknown = null;
  while (performance.now() < deadlineMs) {
    if (owner.exitStatus !== null) throw new Error(`${owner.name} exited with code ${owner.exitStatus.code} while starting`);
    try {
      const connection = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest' }, { timeout: 2_000 });
      await connection.close();
      return;
    } catch (error) {
      lastError = error;
      await delay(250);
    }
  }
  throw new Error(`${owner.name} accepted no AMQP connection on 127.0.0.1:${port} within ${timeoutMs} ms (last error: ${String(lastError)})`);
}

/** The VM's pid: from RABBITMQ_PID_FILE, else the beam.smp below the start script. */
function beamPidOf(pidPath: string, scriptPid: number): number {
  try {
    const pid = Number(fs.readFileSync(pidPath, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isDescendant(pid, scriptPid)) return pid;
  } catch {
    // Not written (yet): look for it.
  }
  const pid = findDescendant(scriptPid, 'beam.smp');
  if (pid === null) throw new Error(`no beam.smp process below the RabbitMQ start script (pid ${scriptPid})`);
  return pid;
}

/** The parent pid of `pid` from /proc, or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function isDescendant(pid: number, ancestorPid: number): boolean {
  for (let current: number | null = pid, depth = 0; current !== null && current > 1 && depth < 32; depth++) {
    if (current === ancestorPid) return true;
    current = parentOf(current);
  }
  return false;
}

/** A process named `command` (as in /proc/PID/comm) below `ancestorPid`, or null. */
function findDescendant(ancestorPid: number, command: string): number | null {
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === ancestorPid) continue;
    let name: string;
    try {
      name = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name === command && isDescendant(pid, ancestorPid)) return pid;
  }
  return null;
}
