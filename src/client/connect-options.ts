import { FerryClientError } from './ferry-client-error.js';

/** How the client retries after losing its connection; see {@link ConnectOptions.reconnect}. */
export interface ReconnectOptions {
  /** Attempts before giving up (default unlimited: the time bound applies). */
  readonly attemptsMax?: number;
  /** Give up once this long has passed since the connection was lost (default 60,000 ms). */
  readonly durationMsMax?: number;
  /** Delay before the first attempt (default 50 ms); doubles after each failure. */
  readonly delayMsInitial?: number;
  /** Longest delay between attempts (default 2,000 ms). */
  readonly delayMsMax?: number;
}

/**
 * Where and how to connect. Give `url`, or `host` / `port`, or `inProcessName`.
 *
 * - `ferry://user:password@host:port/vhost`: TCP (default port 7420).
 * - `ferry+mem://NAME/vhost`: the broker started in this process with
 *   `inProcessName: 'NAME'`, with no socket at all.
 *
 * User and password default to `guest` / `guest` (accepted from loopback and
 * in-process only), the vhost to `/`. In a URL the vhost is the path,
 * percent-encoded (`/%2F` or no path for `/`).
 */
export interface ConnectOptions {
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  /** Connect in-process to the endpoint of this name (as `ferry+mem://NAME`). */
  readonly inProcessName?: string;
  readonly user?: string;
  readonly password?: string;
  readonly vhost?: string;
  /** Shown by the server for this connection (default `ferry-client`). */
  readonly clientName?: string;
  /** How long opening a connection (socket, handshake, login) may take (default 10,000 ms). */
  readonly connectTimeoutMs?: number;
  /**
   * Automatic reconnect, on by default: after losing the connection the
   * client opens a new one, re-declares what it declared, resubscribes its
   * consumers, readers and groups, and re-sends unconfirmed publishes.
   * `false` turns it off (a lost connection then closes the client).
   */
  readonly reconnect?: boolean | ReconnectOptions;
}

/** Default TCP port of the native protocol. */
export const NATIVE_PORT_DEFAULT = 7420;

/** {@link ConnectOptions} with every default applied. */
export interface ResolvedConnectOptions {
  readonly target: { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'in-process'; readonly name: string };
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
  readonly clientName: string;
  readonly connectTimeoutMs: number;
  readonly reconnect: Required<ReconnectOptions> | null;
}

/** Applies defaults and parses the URL; INVALID_ARGUMENT for anything that does not fit. */
export function resolveConnectOptions(input: string | ConnectOptions): ResolvedConnectOptions {
  const options: ConnectOptions = typeof input === 'string' ? { url: input } : input;
  let fromUrl: Partial<{ host: string; port: number; inProcessName: string; user: string; password: string; vhost: string }> = {};
  if (options.url !== undefined) fromUrl = parseUrl(options.url);
  const inProcessName = options.inProcessName ?? fromUrl.inProcessName;
  const host = options.host ?? fromUrl.host ?? '127.0.0.1';
  const port = options.port ?? fromUrl.port ?? NATIVE_PORT_DEFAULT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`port must be an integer from 1 to 65535, got ${port}`);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!(connectTimeoutMs > 0)) throw invalid(`connectTimeoutMs must be positive, got ${connectTimeoutMs}`);
  return {
    target: inProcessName !== undefined ? { kind: 'in-process', name: inProcessName } : { kind: 'tcp', host, port },
    user: options.user ?? fromUrl.user ?? 'guest',
    password: options.password ?? fromUrl.password ?? 'guest',
    vhost: options.vhost ?? fromUrl.vhost ?? '/',
    clientName: options.clientName ?? 'ferry-client',
    connectTimeoutMs,
    reconnect: resolveReconnect(options.reconnect),
  };
}

function resolveReconnect(input: boolean | ReconnectOptions | undefined): Required<ReconnectOptions> | null {
  if (input === false) return null;
  const options = input === true || input === undefined ? {} : input;
  const resolved = {
    attemptsMax: options.attemptsMax ?? Number.POSITIVE_INFINITY,
    durationMsMax: options.durationMsMax ?? 60_000,
    delayMsInitial: options.delayMsInitial ?? 50,
    delayMsMax: options.delayMsMax ?? 2_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!(value >= 0)) throw invalid(`reconnect.${name} must be a non-negative number, got ${value}`);
  }
  return resolved;
}

function parseUrl(text: string): Partial<{ host: string; port: number; inProcessName: string; user: string; password: string; vhost: string }> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${JSON.stringify(text)} is not a URL (expected ferry://host:port/vhost or ferry+mem://name/vhost)`);
  }
  const credentials = {
    ...(url.username !== '' ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
  };
  // The vhost is the path without its leading slash; none (or a bare "/") means "/".
  const path = url.pathname.startsWith('/') ? url.pathname.slice(1) : url.pathname;
  const vhost = path === '' ? {} : { vhost: decodeURIComponent(path) };
  if (url.protocol === 'ferry:') {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { ...credentials, ...vhost, host: host === '' ? '127.0.0.1' : host, port: url.port === '' ? NATIVE_PORT_DEFAULT : Number(url.port) };
  }
  if (url.protocol === 'ferry+mem:') {
    const name = decodeURIComponent(url.hostname);
    if (name === '') throw invalid(`${JSON.stringify(text)} names no in-process endpoint (expected ferry+mem://name)`);
    return { ...credentials, ...vhost, inProcessName: name };
  }
  throw invalid(`unsupported URL scheme ${url.protocol} in ${JSON.stringify(text)} (expected ferry: or ferry+mem:)`);
}

function invalid(message: string): FerryClientError {
  return new FerryClientError('INVALID_ARGUMENT', message);
}
