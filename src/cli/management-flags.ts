import { FerryError } from '../lib/ferry-error.js';
import type { CommandArguments } from './command-arguments.js';
import type { FlagSpecification } from './command.js';
import { ManagementClient } from './management-client.js';

/** The flags of every command that talks to a running Ferry over the management HTTP API. */
export const SERVER_FLAGS: Readonly<Record<string, FlagSpecification>> = {
  url: {
    type: 'string',
    valueName: 'URL',
    description: "Ferry's HTTP (management API) address",
    environment: 'FERRY_URL',
    defaultValue: 'http://127.0.0.1:15672',
  },
  user: { type: 'string', valueName: 'NAME', description: 'user to log in as', environment: 'FERRY_USER', defaultValue: 'guest' },
  password: {
    type: 'string',
    valueName: 'SECRET',
    description: 'password; FERRY_PASSWORD keeps it out of the process list',
    environment: 'FERRY_PASSWORD',
    defaultValue: 'guest',
  },
};

/** The `--vhost` flag of commands that work in one virtual host. */
export const VHOST_FLAG: FlagSpecification = { type: 'string', valueName: 'NAME', description: 'virtual host', environment: 'FERRY_VHOST', defaultValue: '/' };

/** The `--json` flag of commands that print results. */
export const JSON_FLAG: FlagSpecification = { type: 'boolean', description: 'print JSON instead of a table' };

/**
 * A management API client from the {@link SERVER_FLAGS} (flags, then
 * environment, then defaults); INVALID_USAGE when `--url` is not an http(s) URL.
 */
export function managementClientOf(parsed: CommandArguments): ManagementClient {
  const url = parsed.requiredString('url');
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new FerryError('INVALID_USAGE', `--url ${JSON.stringify(url)} is not a URL`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new FerryError('INVALID_USAGE', `--url ${JSON.stringify(url)} is not an http:// or https:// URL`);
  }
  return new ManagementClient({ url, user: parsed.requiredString('user'), password: parsed.requiredString('password') });
}

/** The `--all-vhosts` flag of the listing commands. */
export const ALL_VHOSTS_FLAG: FlagSpecification = { type: 'boolean', description: 'list every vhost the user may see (adds a vhost column), not only --vhost' };
