/**
 * Test support of the management API tests (`src/admin/*.test.ts`): starts an
 * admin server on 127.0.0.1 port 0 over a core the test made, and talks to it
 * with fetch. Nothing in the broker imports it; it imports nothing above admin.
 */
import type { BrokerCore } from '../core/broker/broker-core.js';
import { startAdminServer, type AdminServer, type AdminServerOptions } from './admin-server.js';
import { FerryMetrics } from './ferry-metrics.js';

/** An answer of the API: status, headers and the parsed JSON body (undefined when empty). */
export interface ApiAnswer<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  /** The error code of an error answer. */
  readonly code: string | undefined;
}

/** Options of one request. */
export interface ApiRequestOptions {
  readonly body?: unknown;
  /** Raw body text, sent as it is (with `contentType`, default JSON). */
  readonly rawBody?: string;
  readonly contentType?: string;
  /** Credentials; default guest/guest. `null` sends none. */
  readonly login?: { readonly user: string; readonly password: string } | null;
  readonly headers?: Record<string, string>;
}

/** A running admin server and a client for it. */
export interface TestAdmin {
  readonly server: AdminServer;
  readonly metrics: FerryMetrics;
  readonly url: string;
  request<T = any>(method: string, path: string, options?: ApiRequestOptions): Promise<ApiAnswer<T>>;
  /** GET that must answer 200; returns the body. */
  get<T = any>(path: string, options?: ApiRequestOptions): Promise<T>;
  close(): Promise<void>;
}

/** Starts an admin server over `core` on 127.0.0.1:0 (readiness `ready`, rates sampled every 50 ms unless told). */
export async function startTestAdmin(core: BrokerCore, options: Partial<AdminServerOptions> = {}): Promise<TestAdmin> {
  const metrics = options.metrics ?? new FerryMetrics();
  const server = await startAdminServer({
    core,
    host: '127.0.0.1',
    port: 0,
    version: 'test',
    readiness: () => 'ready',
    rateSampleIntervalMs: 50,
    ...options,
    metrics,
  });
  const url = `http://127.0.0.1:${server.port}`;
  const request = async <T>(method: string, path: string, requestOptions: ApiRequestOptions = {}): Promise<ApiAnswer<T>> => {
    const headers: Record<string, string> = { ...requestOptions.headers };
    const login = requestOptions.login === undefined ? { user: 'guest', password: 'guest' } : requestOptions.login;
    if (login !== null) headers['authorization'] = `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`;
    let body: string | undefined;
    if (requestOptions.rawBody !== undefined) body = requestOptions.rawBody;
    else if (requestOptions.body !== undefined) body = JSON.stringify(requestOptions.body);
    if (body !== undefined) headers['content-type'] = requestOptions.contentType ?? 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const code = (parsed as { error?: { code?: string } } | undefined)?.error?.code;
    return { status: response.status, headers: response.headers, body: parsed as T, code };
  };
  return {
    server,
    metrics,
    url,
    request,
    get: async <T>(path: string, requestOptions?: ApiRequestOptions): Promise<T> => {
      const answer = await request<T>('GET', path, requestOptions);
      if (answer.status !== 200) throw new Error(`GET ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      return answer.body;
    },
    close: () => server.close(1_000),
  };
}

/** A vhost or name as one path segment. */
export function segment(name: string): string {
  return encodeURIComponent(name);
}

/**
 * Parses Prometheus text into `name{labels}` → value, labels in the order written
 * (`ferry_queue_messages_ready{vhost="/",queue="jobs"}`).
 */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes (then the caller's assertion fails). */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
