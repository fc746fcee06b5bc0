/**
 * `npm run bench:native`: Ferry's native protocol and HTTP API, with the
 * broker (`ferry serve`, durability `always`, on a fresh data directory per
 * scenario) and the client (native-client-child.js, Ferry's TypeScript
 * client) in separate processes on 127.0.0.1. One JSON line per scenario on
 * stdout:
 *
 *   {"scenario": …, "cores": …, "quick": …, <client's figures>, "brokerCpuSeconds": …, "target": …, "met": …}
 *
 *   node dist/bench/native.bench.js [--quick] [--scenario name[,name...]]
 *
 * `http-publish` also starts a bare node:http server (answering 200 to every
 * request) in a process of its own and drives both with the same client loop
 * in the same run; its figure is the ratio. `rpc` likewise starts a bare TCP
 * relay (a process that forwards bytes between two sockets, as a broker
 * forwards a request and its reply) and times the same round trip through it:
 * the floor any broker process has on this machine. `--quick` runs each scenario for
 * about a second at a small size (CI); its figures are not comparable with
 * the targets, so quick lines carry `"met": null`.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildSettings } from './native-client-child.js';
import { FerryProcess } from './ferry-process.js';
import { OwnedProcess, startBareServer } from './owned-process.js';
import { processUsage } from './process-usage.js';
import { runScenarios, scenarioWithTargets, type BenchScenario, type ScenarioSettings } from './scenario-runner.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_SCRIPT = path.join(HERE, 'native-client-child.js');
/** A whole scenario (fill, warm-up, measure) must end within this. */
const CHILD_TIMEOUT_MS = 180_000;

/** Sizes per scenario: full runs and quick (CI) runs. */
type Sizes = Omit<ChildSettings, 'url' | 'httpUrl' | 'bareHttpUrl' | 'bareRelayPort'>;
const SIZES: Record<string, { readonly full: Sizes; readonly quick: Sizes }> = {
  'stream-publish': { full: { warmupMs: 2_000, measureMs: 5_000, countMax: 50_000_000 }, quick: { warmupMs: 200, measureMs: 800, countMax: 200_000 } },
  'stream-consume': { full: { warmupMs: 0, measureMs: 0, countMax: 3_000_000 }, quick: { warmupMs: 0, measureMs: 0, countMax: 50_000 } },
  'queue-roundtrip': { full: { warmupMs: 2_000, measureMs: 5_000, countMax: 20_000_000 }, quick: { warmupMs: 200, measureMs: 800, countMax: 40_000 } },
  rpc: { full: { warmupMs: 1_000, measureMs: 5_000, countMax: 1_000_000 }, quick: { warmupMs: 100, measureMs: 500, countMax: 2_000 } },
  'http-publish': { full: { warmupMs: 1_000, measureMs: 4_000, countMax: 10_000_000 }, quick: { warmupMs: 100, measureMs: 400, countMax: 2_000 } },
};

/** Runs the client child for `scenario` and returns its JSON line. */
async function runClient(scenario: string, settings: ChildSettings): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [CLIENT_SCRIPT, scenario, JSON.stringify(settings)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const owned = new OwnedProcess(child, `client ${scenario}`);
  let line: string | undefined;
  createInterface({ input: child.stdout! }).on('line', (text) => (line = text));
  const timer = setTimeout(() => owned.kill(), CHILD_TIMEOUT_MS);
  const exit = await owned.exited;
  clearTimeout(timer);
  if (exit.code !== 0 || line === undefined) throw new Error(`client ${scenario} failed (exit code ${exit.code}, signal ${exit.signal})`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** A bare node:http server that answers 200 to everything; resolves with its URL. */
async function startBareHttp(): Promise<{ url: string; process: OwnedProcess }> {
  const { port, process } = await startBareServer('bare HTTP server', ['-e', [
    "const http = require('node:http');",
    "const server = http.createServer((request, response) => { request.resume(); request.on('end', () => { response.writeHead(200, { 'content-type': 'application/json' }); response.end('{}'); }); });",
    'server.keepAliveTimeout = 60000;',
    "server.listen(0, '127.0.0.1', () => console.log(server.address().port));",
  ].join('\n')]);
  return { url: `http://127.0.0.1:${port}/`, process };
}

/**
 * A bare TCP relay: each connection first sends one byte, `Q` (requester) or `R` (responder);
 * once both are there, each gets one byte `!` (ready), and from then on whatever one side
 * sends is written to the other, unchanged.
 */
function startBareRelay(): Promise<{ port: number; process: OwnedProcess }> {
  return startBareServer('bare TCP relay', ['-e', [
    "const net = require('node:net');",
    'const peers = {};',
    'const server = net.createServer((socket) => {',
    '  socket.setNoDelay(true);',
    "  socket.once('data', (first) => {",
    "    const role = String.fromCharCode(first[0]); const other = role === 'Q' ? 'R' : 'Q';",
    '    peers[role] = socket;',
    "    socket.on('data', (data) => peers[other].write(data));",
    "    if (peers.Q && peers.R) { peers.Q.write('!'); peers.R.write('!'); }",
    '  });',
    "  socket.on('error', () => undefined);",
    '});',
    "server.listen(0, '127.0.0.1', () => console.log(server.address().port));",
  ].join('\n')]);
}

/** Starts a broker, runs `scenario`'s client against it, stops the broker; adds the broker's CPU time. */
function scenario(name: string) {
  return async (settings: ScenarioSettings): Promise<Record<string, unknown>> => {
    // Profiling: FERRY_BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (as in bench:amqp).
    const nodeFlags = (process.env['FERRY_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
    const broker = await FerryProcess.start({ dataDirectory: path.join(settings.directory, 'data'), listeners: ['native', 'http'], nodeFlags });
    const bare = name === 'http-publish' ? await startBareHttp() : null;
    const relay = name === 'rpc' ? await startBareRelay() : null;
    try {
      const before = processUsage(broker.pid);
      const sizes = settings.quick ? SIZES[name]!.quick : SIZES[name]!.full;
      const result = await runClient(name, {
        url: `ferry://guest:guest@127.0.0.1:${broker.port('native')}`,
        httpUrl: `http://127.0.0.1:${broker.port('http')}`,
        bareHttpUrl: bare?.url ?? '',
        bareRelayPort: relay?.port ?? 0,
        ...sizes,
      });
      const after = processUsage(broker.pid);
      return { ...result, brokerCpuSeconds: Math.round((after.cpuSeconds - before.cpuSeconds) * 100) / 100, brokerRssMB: Math.round(after.rssBytes / 1e6) };
    } finally {
      await bare?.process.stop(5_000);
      await relay?.process.stop(5_000);
      await broker.stop();
    }
  };
}

const SCENARIOS: BenchScenario[] = [
  scenarioWithTargets('stream-publish', [{ field: 'msgsPerSec', atLeast: 1_000_000 }], scenario('stream-publish')),
  scenarioWithTargets('stream-consume', [{ field: 'msgsPerSec', atLeast: 1_500_000 }], scenario('stream-consume')),
  scenarioWithTargets('queue-roundtrip', [{ field: 'msgsPerSec', atLeast: 250_000 }], scenario('queue-roundtrip')),
  scenarioWithTargets(
    'rpc',
    [
      { field: 'p50Us', atMost: 100 },
      { field: 'p99Us', atMost: 1_000 },
    ],
    scenario('rpc'),
  ),
  // Reported, not judged: the issue asks for the ratio only.
  { name: 'http-publish', run: scenario('http-publish'), target: 'ratioToBareHttp reported', met: () => null },
];

await runScenarios('native', SCENARIOS, process.argv.slice(2));
