import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, SETTINGS, type ReadTextFile } from './config.js';
import { isFerryError } from '../lib/ferry-error.js';
import { LOG_OPTION_DEFAULTS } from '../storage/file-log.js';
import { FILE_LOG_STORE_DEFAULTS } from '../storage/file-log-store.js';

const noFile: ReadTextFile = (path) => {
  throw new Error(`ENOENT: no such file or directory, open '${path}'`);
};

function files(contents: Record<string, string>): ReadTextFile {
  return (path) => {
    const text = contents[path];
    if (text === undefined) return noFile(path);
    return text;
  };
}

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_CONFIG');
    assert.doesNotMatch(error.message, /\n/);
    return error;
  }
  assert.fail('expected loadConfig to throw');
}

test('defaults apply when nothing is set', () => {
  const config = loadConfig([], {}, noFile);
  assert.equal(config.dataDirectory, './data');
  assert.equal(config.memory, false);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.httpPort, 15672);
  assert.equal(config.amqpPort, 5672);
  assert.equal(config.mqttPort, 1883);
  assert.equal(config.kafkaPort, 9092);
  assert.equal(config.sqsPort, 9324);
  assert.equal(config.durability, 'always');
  assert.equal(config.logLevel, 'info');
  assert.equal(config.configFile, null);
  assert.equal(config.sources['http-port'], 'default');
});

test('flags set every setting', () => {
  const config = loadConfig(
    ['--data-dir', '/srv/ferry', '--memory', '--host', '0.0.0.0', '--http-port', '0', '--amqp-port', '5673',
      '--native-port', '7000', '--mqtt-port', '1884', '--kafka-port', '9093', '--sqs-port', '9325',
      '--durability', 'interval', '--log-level', 'debug'],
    {},
    noFile,
  );
  assert.equal(config.dataDirectory, '/srv/ferry');
  assert.equal(config.memory, true);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.httpPort, 0);
  assert.equal(config.amqpPort, 5673);
  assert.equal(config.nativePort, 7000);
  assert.equal(config.mqttPort, 1884);
  assert.equal(config.kafkaPort, 9093);
  assert.equal(config.sqsPort, 9325);
  assert.equal(config.durability, 'interval');
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.sources['durability'], '--durability');
});

test('flags beat environment, which beats the config file, which beats defaults', () => {
  const read = files({ 'ferry.json': JSON.stringify({ 'http-port': 1001, host: '10.0.0.1', durability: 'never', 'data-dir': '/file' }) });
  const environment = { FERRY_CONFIG: 'ferry.json', FERRY_HTTP_PORT: '1002', FERRY_HOST: '10.0.0.2' };
  const config = loadConfig(['--http-port', '1003'], environment, read);
  assert.equal(config.httpPort, 1003);
  assert.equal(config.host, '10.0.0.2');
  assert.equal(config.durability, 'never');
  assert.equal(config.dataDirectory, '/file');
  assert.equal(config.logLevel, 'info');
  assert.equal(config.configFile, 'ferry.json');
  assert.deepEqual(
    [config.sources['http-port'], config.sources.host, config.sources.durability, config.sources['log-level']],
    ['--http-port', 'FERRY_HOST', 'config file ferry.json', 'default'],
  );
});

test('gc-pretenuring is off by default and read from a flag, FERRY_GC_PRETENURING and a config file key', () => {
  assert.equal(loadConfig([], {}, noFile).gcPretenuring, false);
  assert.equal(loadConfig(['--gc-pretenuring'], {}, noFile).gcPretenuring, true);
  assert.equal(loadConfig([], { FERRY_GC_PRETENURING: '1' }, noFile).gcPretenuring, true);
  assert.equal(loadConfig(['--config', 'c.json'], {}, files({ 'c.json': '{"gc-pretenuring": true}' })).gcPretenuring, true);
});

test('the --config flag wins over FERRY_CONFIG', () => {
  const read = files({ 'a.json': '{"http-port": 1}', 'b.json': '{"http-port": 2}' });
  assert.equal(loadConfig(['--config', 'b.json'], { FERRY_CONFIG: 'a.json' }, read).httpPort, 2);
});

test('FERRY_MEMORY and FERRY_DURABILITY and FERRY_LOG_LEVEL and FERRY_DATA_DIR are read', () => {
  const config = loadConfig(
    [],
    { FERRY_MEMORY: 'true', FERRY_DURABILITY: 'interval', FERRY_LOG_LEVEL: 'warn', FERRY_DATA_DIR: '/env' },
    noFile,
  );
  assert.equal(config.memory, true);
  assert.equal(config.durability, 'interval');
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.dataDirectory, '/env');
});

test('an empty environment variable counts as unset', () => {
  assert.equal(loadConfig([], { FERRY_HTTP_PORT: '' }, noFile).httpPort, 15672);
});

test('a port that is not a number names the setting and the flag', () => {
  const error = configErrorOf(() => loadConfig(['--http-port', 'abc'], {}, noFile));
  assert.equal(error.message, 'INVALID_CONFIG: invalid setting http-port from --http-port: "abc" is not a port number (0-65535)');
  assert.equal(error.setting, 'http-port');
  assert.equal(error.source, '--http-port');
});

test('ports outside 0-65535 are rejected from every source', () => {
  configErrorOf(() => loadConfig(['--amqp-port', '65536'], {}, noFile));
  configErrorOf(() => loadConfig(['--sqs-port=-1'], {}, noFile));
  const fromEnvironment = configErrorOf(() => loadConfig([], { FERRY_HTTP_PORT: '1.5' }, noFile));
  assert.match(fromEnvironment.message, /http-port from FERRY_HTTP_PORT/);
  const fromFile = configErrorOf(() => loadConfig(['--config', 'c.json'], {}, files({ 'c.json': '{"kafka-port": 70000}' })));
  assert.match(fromFile.message, /kafka-port from config file c\.json: 70000 is not a port number/);
});

test('an invalid durability or log level lists the allowed values', () => {
  const durability = configErrorOf(() => loadConfig(['--durability', 'sometimes'], {}, noFile));
  assert.match(durability.message, /durability from --durability: "sometimes" is not one of always, interval, never/);
  const level = configErrorOf(() => loadConfig([], { FERRY_LOG_LEVEL: 'loud' }, noFile));
  assert.match(level.message, /log-level from FERRY_LOG_LEVEL/);
});

test('an invalid boolean is rejected', () => {
  const error = configErrorOf(() => loadConfig([], { FERRY_MEMORY: 'yes please' }, noFile));
  assert.match(error.message, /memory from FERRY_MEMORY/);
});

test('an unreadable config file names the file and where it was set', () => {
  const error = configErrorOf(() => loadConfig(['--config', 'missing.json'], {}, noFile));
  assert.match(error.message, /invalid setting config from --config: cannot read file "missing\.json": ENOENT/);
  const fromEnvironment = configErrorOf(() => loadConfig([], { FERRY_CONFIG: 'missing.json' }, noFile));
  assert.match(fromEnvironment.message, /config from FERRY_CONFIG/);
});

test('a config file with invalid JSON names the file', () => {
  const error = configErrorOf(() => loadConfig(['--config', 'bad.json'], {}, files({ 'bad.json': '{"http-port": ' })));
  assert.match(error.message, /config from --config: file "bad\.json" is not valid JSON/);
});

test('a config file that is not an object is rejected', () => {
  const error = configErrorOf(() => loadConfig(['--config', 'list.json'], {}, files({ 'list.json': '[1]' })));
  assert.match(error.message, /must hold a JSON object/);
});

test('an unknown config file key is rejected and named', () => {
  const error = configErrorOf(() => loadConfig(['--config', 'c.json'], {}, files({ 'c.json': '{"httpPort": 1}' })));
  assert.match(error.message, /invalid setting httpPort from config file c\.json: unknown key/);
});

test('an unknown flag, a missing value or a stray argument is a usage error', () => {
  for (const argv of [['--bogus'], ['--http-port'], ['extra']]) {
    assert.throws(() => loadConfig(argv, {}, noFile), (error: unknown) => isFerryError(error, 'INVALID_USAGE'));
  }
});

test('storage settings default to the file store\'s own defaults', () => {
  const { storage } = loadConfig([], {}, noFile);
  const { segmentBytesMax, segmentAgeMsMax } = LOG_OPTION_DEFAULTS;
  const { durability: _durability, batchBytesMax: _batchBytesMax, ...storeDefaults } = FILE_LOG_STORE_DEFAULTS;
  assert.deepEqual(storage, { ...storeDefaults, segmentBytesMax, segmentAgeMsMax });
});

test('a storage setting is read from a flag, an environment variable and a config file key', () => {
  const read = files({ 'ferry.json': JSON.stringify({ 'storage-cache-bytes-max': 1_048_576 }) });
  const config = loadConfig(
    ['--config', 'ferry.json', '--storage-journal-bytes-max', '4096'],
    { FERRY_STORAGE_CHECKPOINT_INTERVAL_MS: '250' },
    read,
  );
  assert.equal(config.storage.journalBytesMax, 4096);
  assert.equal(config.storage.checkpointIntervalMs, 250);
  assert.equal(config.storage.cacheBytesMax, 1_048_576);
  assert.deepEqual(
    [config.sources['storage-journal-bytes-max'], config.sources['storage-checkpoint-interval-ms'], config.sources['storage-cache-bytes-max']],
    ['--storage-journal-bytes-max', 'FERRY_STORAGE_CHECKPOINT_INTERVAL_MS', 'config file ferry.json'],
  );
});

test('every storage setting reaches its store option', () => {
  const storageSettings = SETTINGS.filter((setting) => setting.name.startsWith('storage-'));
  const argv = storageSettings.flatMap((setting, index) => [`--${setting.name}`, String(2_000_000 + index)]);
  const values = Object.values(loadConfig(argv, {}, noFile).storage).sort((left, right) => left - right);
  assert.deepEqual(values, storageSettings.map((_, index) => 2_000_000 + index));
});

test('a storage setting of 0 where 0 means nothing is rejected in one line naming it', () => {
  const error = configErrorOf(() => loadConfig(['--storage-segment-flush-bytes', '0'], {}, noFile));
  assert.equal(error.message, 'INVALID_CONFIG: invalid setting storage-segment-flush-bytes from --storage-segment-flush-bytes: "0" is not a whole number from 1 to 9007199254740991');
  assert.equal(error.setting, 'storage-segment-flush-bytes');
  for (const name of SETTINGS.filter((setting) => setting.name.startsWith('storage-')).map((setting) => setting.name)) {
    if (name === 'storage-journal-preallocate-bytes') assert.equal(loadConfig([`--${name}`, '0'], {}, noFile).storage.journalPreallocateBytes, 0, '0 turns preallocation off');
    else if (name === 'storage-run-record-bytes-max') assert.equal(loadConfig([`--${name}`, '0'], {}, noFile).storage.runRecordBytesMax, 0, '0 turns runs off');
    else configErrorOf(() => loadConfig([`--${name}`, '0'], {}, noFile));
  }
});

test('storage values the store cannot work with are rejected from every source', () => {
  const interval = configErrorOf(() => loadConfig([], { FERRY_STORAGE_RETENTION_CHECK_INTERVAL_MS: '2147483648' }, noFile));
  assert.match(interval.message, /storage-retention-check-interval-ms from FERRY_STORAGE_RETENTION_CHECK_INTERVAL_MS: "2147483648" is not a whole number from 1 to 2147483647$/);
  const segment = configErrorOf(() => loadConfig(['--config', 'c.json'], {}, files({ 'c.json': '{"storage-segment-bytes-max": 1023}' })));
  assert.match(segment.message, /storage-segment-bytes-max from config file c\.json: 1023 is not a whole number from 1024 to 2147483648$/);
  const journal = configErrorOf(() => loadConfig(['--storage-journal-bytes-max', '32'], {}, noFile));
  assert.match(journal.message, /storage-journal-bytes-max from --storage-journal-bytes-max: "32" is not a whole number from 1024/);
  configErrorOf(() => loadConfig(['--storage-cache-bytes-max', '1.5'], {}, noFile));
  configErrorOf(() => loadConfig(['--config', 'c.json'], {}, files({ 'c.json': '{"storage-index-interval-bytes": -4096}' })));
});

test('every storage setting says in --help that --memory ignores it', () => {
  for (const setting of SETTINGS.filter((candidate) => candidate.name.startsWith('storage-'))) {
    assert.match(setting.description, /no effect with --memory/, setting.name);
  }
});
