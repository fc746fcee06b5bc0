import type { ConnectOptions } from './connect-options.js';
import { FerryClient } from './ferry-client.js';

/**
 * Connects to Ferry and resolves with a logged-in {@link FerryClient}.
 *
 * ```ts
 * const client = await connect('ferry://guest:guest@127.0.0.1:7420/');
 * const inProcess = await connect('ferry+mem://my-broker');
 * ```
 *
 * Rejects with CONNECTION_FAILED when the server cannot be reached (or no
 * in-process broker has that name), NATIVE_AUTHENTICATION_FAILED for wrong
 * credentials, ACCESS_REFUSED without access to the vhost, INVALID_ARGUMENT
 * for a malformed URL. The first connection is not retried; later losses
 * are (see {@link ConnectOptions.reconnect}).
 */
export function connect(options: string | ConnectOptions): Promise<FerryClient> {
  return FerryClient.open(options);
}
