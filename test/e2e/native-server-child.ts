/**
 * A `ferry serve` in a child process for the client reconnect test: the
 * real server (startServer with the same config `ferry serve` loads) on a
 * data directory, with the native listener on the given port (0: a free
 * one). Prints `ready <native port>` once listening; runs until killed.
 *
 *   node native-server-child.js <data dir> <native port>
 */
import { loadConfig } from '../../src/server/config.js';
import { Logger } from '../../src/server/logger.js';
import { startServer } from '../../src/server/server.js';
import { reportSynchronously } from './report-synchronously.js';

const [directory, port] = process.argv.slice(2);
if (directory === undefined || port === undefined) throw new Error('usage: native-server-child.js <data dir> <native port>');
const config = loadConfig(['--data-dir', directory, '--native-port', port, '--amqp-port', '0', '--http-port', '0', '--host', '127.0.0.1'], {}, () => '');
const server = await startServer(config, { logger: new Logger({ level: 'error', write: (line) => process.stderr.write(`${line}\n`) }) });
const native = server.addresses.find((address) => address.protocol === 'native');
if (native === undefined) throw new Error('the server has no native listener');
reportSynchronously(`ready ${native.port}\n`);
