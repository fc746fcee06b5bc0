/**
 * A whole Ferry server (`startServer`, memory storage, every port 0 on
 * 127.0.0.1) for the HTTP messaging API tests, and clients for it: JSON and
 * raw requests with fetch, server-sent events read from fetch's body stream,
 * WebSockets with the `ws` package. Start one per test file in `before`,
 * close it in `after`; `close()` ends every event stream and socket first.
 */
import WebSocket from 'ws';
import { loadConfig } from '../../../src/server/config.js';
import { Logger } from '../../../src/server/logger.js';
import { startServer, type RunningServer } from '../../../src/server/server.js';

/** A user's credentials; default guest / guest. */
export interface Login {
  readonly user: string;
  readonly password: string;
}

/** Options of one request. */
export interface RequestOptions {
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body, sent with `contentType`. */
  readonly raw?: string | Uint8Array;
  readonly contentType?: string;
  /** `null` sends no credentials. */
  readonly login?: Login | null;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** An answer: status, headers, the body parsed as JSON when it is, and the error code of an error. */
export interface Answer<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly code: string | undefined;
}

/** One server-sent event. */
export interface ServerSentEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: any;
}

/** A text/event-stream being read. */
export interface EventStream {
  readonly status: number;
  readonly headers: Headers;
  /** The next event (comments skipped); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<ServerSentEvent>;
  /** Resolves true once the server ended the stream. */
  ended(): Promise<boolean>;
  /** Goes away, as a client closing the page would. */
  close(): void;
}

/** A WebSocket with its frames queued as parsed JSON. */
export interface JsonSocket {
  readonly socket: WebSocket;
  next(timeoutMs?: number): Promise<any>;
  send(value: unknown): void;
  /** Resolves with the close code once the socket closed. */
  closed(): Promise<number>;
  close(): void;
}

const GUEST: Login = { user: 'guest', password: 'guest' };

function authorization(login: Login): string {
  return `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`;
}

/** A vhost or name as one path segment. */
export function segment(name: string): string {
  return encodeURIComponent(name);
}

/** A queue of values that waiters take from, each waiter with a timeout. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  take(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    return new Promise((resolve, reject) => {
      const waiter = (item: T): void => {
        clearTimeout(timer);
        resolve(item);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

/** A running server and clients for it. */
export class HttpTestServer {
  private readonly streams = new Set<EventStream>();
  private readonly sockets = new Set<WebSocket>();

  private constructor(
    readonly server: RunningServer,
    /** `http://127.0.0.1:PORT` */
    readonly url: string,
  ) {}

  /** Starts a server in memory; `flags` are more `ferry serve` flags (`--http-subscriptions-max 2`). */
  static async start(flags: readonly string[] = []): Promise<HttpTestServer> {
    const ports = ['--http-port', '--amqp-port', '--native-port', '--mqtt-port', '--kafka-port', '--sqs-port'].flatMap((flag) => [flag, '0']);
    const config = loadConfig(['--memory', '--host', '127.0.0.1', ...ports, ...flags], {}, () => '');
    const server = await startServer(config, { logger: new Logger({ level: 'error', write: () => undefined }), shutdownGraceMs: 500 });
    const http = server.addresses.find((address) => address.protocol === 'http')!;
    return new HttpTestServer(server, http.url);
  }

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const login = options.login === undefined ? GUEST : options.login;
    if (login !== null) headers['authorization'] = authorization(login);
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    }
    const response = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: the text as it is.
    }
    return { status: response.status, headers: response.headers, body: parsed as T, code: (parsed as { error?: { code?: string } } | undefined)?.error?.code };
  }

  /** A request that must answer 200; returns the body. */
  async ok<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const answer = await this.request<T>(method, path, options);
    if (answer.status !== 200 && answer.status !== 201 && answer.status !== 204) {
      throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  /** Declares a queue through the management API. */
  async declareQueue(name: string, body: unknown = {}, vhost = '/'): Promise<void> {
    await this.ok('PUT', `/api/queues/${segment(vhost)}/${segment(name)}`, { json: body });
  }

  /** Declares a stream through the management API. */
  async declareStream(name: string, body: unknown = {}, vhost = '/'): Promise<void> {
    await this.ok('PUT', `/api/streams/${segment(vhost)}/${segment(name)}`, { json: body });
  }

  /** Creates a user with `permissions` in "/" through the management API. */
  async createUser(login: Login, permissions: { configure: string; write: string; read: string } | null, tags = ''): Promise<void> {
    await this.ok('PUT', `/api/users/${segment(login.user)}`, { json: { password: login.password, tags } });
    if (permissions) await this.ok('PUT', `/api/permissions/%2F/${segment(login.user)}`, { json: permissions });
  }

  /** Opens a text/event-stream with fetch and parses its events as they come. */
  async events(path: string, options: { login?: Login | null; headers?: Record<string, string> } = {}): Promise<EventStream> {
    const controller = new AbortController();
    const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
    const login = options.login === undefined ? GUEST : options.login;
    if (login !== null) headers['authorization'] = authorization(login);
    const response = await fetch(`${this.url}${path}`, { headers, signal: controller.signal });
    const inbox = new Inbox<ServerSentEvent>();
    let resolveEnded!: (ended: boolean) => void;
    const ended = new Promise<boolean>((resolve) => (resolveEnded = resolve));
    const read = async (): Promise<void> => {
      if (!response.body) return resolveEnded(true);
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const fields = { event: 'message', id: undefined as string | undefined, data: [] as string[] };
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const name = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (name === 'event') fields.event = value;
              else if (name === 'id') fields.id = value;
              else if (name === 'data') fields.data.push(value);
            }
            if (fields.data.length > 0) inbox.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data.join('\n')) });
          }
        }
        resolveEnded(true);
      } catch {
        resolveEnded(false);
      }
    };
    void read();
    const stream: EventStream = {
      status: response.status,
      headers: response.headers,
      next: (timeoutMs = 5_000) => inbox.take(timeoutMs, 'event'),
      ended: () => ended,
      close: () => {
        controller.abort();
        this.streams.delete(stream);
      },
    };
    this.streams.add(stream);
    if (response.status !== 200) await response.body?.cancel().catch(() => undefined);
    return stream;
  }

  /** Opens a WebSocket (resolves once open; rejects with the server's status when it refuses the upgrade). */
  async webSocket(path: string, options: { login?: Login | null } = {}): Promise<JsonSocket> {
    const login = options.login === undefined ? GUEST : options.login;
    const socket = new WebSocket(`${this.url.replace(/^http/, 'ws')}${path}`, { headers: login ? { authorization: authorization(login) } : {} });
    this.sockets.add(socket);
    const inbox = new Inbox<any>();
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('message', (data) => inbox.push(JSON.parse(data.toString())));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) => {
        reject(Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode }));
        response.resume();
        socket.terminate();
      });
      socket.once('error', reject);
    });
    return {
      socket,
      next: (timeoutMs = 5_000) => inbox.take(timeoutMs, 'frame'),
      send: (value) => socket.send(JSON.stringify(value)),
      closed: () => closed,
      close: () => socket.close(),
    };
  }

  async close(): Promise<void> {
    for (const stream of [...this.streams]) stream.close();
    for (const socket of this.sockets) socket.terminate();
    await this.server.close();
  }
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes (then the caller's assertion fails). */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
