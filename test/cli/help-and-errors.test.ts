// `--help` of every command, exit codes (0 success, 1 failure, 2 usage) and
// where connection settings come from.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serverNodeFlags } from '../../bench/ferry-process.js';
import { runFerry, startTestServer, type TestServer } from './cli-harness.js';

const COMMANDS = ['serve', 'status', 'queues', 'exchanges', 'bindings', 'connections', 'publish', 'consume', 'purge', 'delete', 'definitions', 'bench'];

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(() => server.close());

test('ferry --help lists every command and exits 0; no command at all is a usage error', async () => {
  const help = await runFerry(['--help']);
  assert.equal(help.code, 0);
  for (const command of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'), command);
  const nothing = await runFerry([]);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /^Usage: ferry <command>/);
});

test('--help of every command prints its usage and flags on stdout and exits 0', async () => {
  const runs = await Promise.all(COMMANDS.map((command) => runFerry([command, '--help'])));
  for (const [index, run] of runs.entries()) {
    const command = COMMANDS[index]!;
    assert.equal(run.code, 0, `${command}: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Usage: ferry ${command}\\b`), command);
    assert.equal(run.stderr, '', command);
    if (command !== 'serve') assert.match(run.stdout, /--help/, command);
  }
  const consume = runs[COMMANDS.indexOf('consume')]!.stdout;
  assert.match(consume, /HTTP polling/, 'consume says how it consumes');
  assert.match(runs[COMMANDS.indexOf('queues')]!.stdout, /--url URL .*default http:\/\/127\.0\.0\.1:15672; env FERRY_URL/);
  assert.match(runs[COMMANDS.indexOf('serve')]!.stdout, /--storage-journal-bytes-max VALUE .*no effect with --memory \(default 67108864\); env FERRY_STORAGE_JOURNAL_BYTES_MAX/);
  assert.match(runs[COMMANDS.indexOf('bench')]!.stdout, /--amqp-url URL .*env FERRY_AMQP_URL/);
  assert.equal((await runFerry(['help', 'purge'])).stdout, (await runFerry(['purge', '-h'])).stdout, '"ferry help purge" is "ferry purge --help"');
});

test('a wrong password exits 1 with the server\'s code on one line', async () => {
  const run = await runFerry(['queues', '--url', server.httpUrl, '--password', 'wrong']);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^ferry: UNAUTHORIZED: [^\n]+\n$/);
  const fromEnvironment = await runFerry(['status'], { environment: { FERRY_URL: server.httpUrl, FERRY_PASSWORD: 'wrong' } });
  assert.equal(fromEnvironment.code, 1);
  assert.match(fromEnvironment.stderr, /^ferry: UNAUTHORIZED: /);
});

test('an unknown flag, a missing argument or a bad value is a usage error with exit code 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['queues', '--bogus'], /--bogus.*run "ferry queues --help"/],
    [['consume'], /missing argument.*run "ferry consume --help"/],
    [['consume', 'tasks', '--count', 'ten'], /--count "ten" is not a whole number/],
    [['delete', 'stream', 'x'], /say queue or exchange/],
    [['definitions', 'upload'], /unknown action "upload"/],
    [['publish', 'body'], /say where to publish/],
    [['bench', '--messages', '5', '--seconds', '1'], /not both/],
    [['status', '--url', 'ftp://example'], /not an http/],
    [['launch'], /unknown command "launch"/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runFerry(args, { environment: { FERRY_URL: server.httpUrl } })));
  for (const [index, run] of runs.entries()) {
    const [args, pattern] = cases[index]!;
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line for ${args.join(' ')}`);
    assert.match(run.stderr, /^ferry: /);
    assert.match(run.stderr, pattern, args.join(' '));
  }
});

test('a server that cannot be reached exits 1 with SERVER_UNREACHABLE', async () => {
  // A port that was free a moment ago.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const run = await runFerry(['status', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^ferry: SERVER_UNREACHABLE: cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
});

test('flags win over environment variables', async () => {
  const run = await runFerry(['status', '--url', server.httpUrl, '--password', 'guest', '--json'], {
    environment: { FERRY_URL: 'http://127.0.0.1:9', FERRY_PASSWORD: 'wrong' },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(JSON.parse(run.stdout).ferry_version);
});

test('bin/ferry.js runs as a program through its #! line, with the Node flags the benchmarks read from it', async () => {
  const bin = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));
  const flags = serverNodeFlags();
  assert.ok(flags.includes('--initial-old-space-size=128'), flags.join(' '));
  // Run directly (not through `node`): env -S splits the line, and node accepts the flags.
  const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(bin, ['--help'], (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }));
  });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^Usage: ferry <command>/);
});
