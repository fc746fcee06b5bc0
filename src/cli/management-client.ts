import { FerryError } from '../lib/ferry-error.js';

/** Where and as whom {@link ManagementClient} talks to Ferry's management HTTP API. */
export interface ManagementClientOptions {
  /** Base URL of the HTTP listener, such as `http://127.0.0.1:15672`. */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** Longest wait for one answer. Default 30 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * An error answer of the API, `{ "error": { "code", "message" } }`: the code
 * is the server's (docs/errors.md), kept as it is so the CLI prints it.
 */
export class ManagementApiError extends FerryError {
  /** The HTTP status of the answer. */
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.name = 'ManagementApiError';
    this.status = status;
  }
}

/** A queue as `GET /api/queues` lists it (the fields the CLI shows; the API sends more). */
export interface QueueInfo {
  readonly vhost: string;
  readonly name: string;
  readonly durable: boolean;
  readonly auto_delete: boolean;
  readonly exclusive: boolean;
  readonly messages: number;
  readonly messages_ready: number;
  readonly messages_unacknowledged: number;
  readonly consumers: number;
  readonly message_stats: { readonly publish_rate: number; readonly deliver_rate: number; readonly ack_rate: number };
}

/** An exchange as `GET /api/exchanges` lists it. */
export interface ExchangeInfo {
  readonly vhost: string;
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly auto_delete: boolean;
  readonly internal: boolean;
  readonly alternate_exchange: string | null;
  readonly bindings_from: number;
}

/** A binding as `GET /api/bindings` lists it. */
export interface BindingInfo {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
  readonly destination_type: 'queue' | 'exchange' | 'stream';
  readonly routing_key: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly properties_key: string;
}

/** A client connection as `GET /api/connections` lists it. */
export interface ConnectionInfo {
  readonly name: string;
  readonly protocol: string;
  readonly peer_host: string | null;
  readonly peer_port: number | null;
  readonly user: string;
  readonly vhost: string;
  readonly connected_at_ms: number;
  readonly state: string;
  readonly channels: number;
}

/** `GET /api/overview`. */
export interface Overview {
  readonly ferry_version: string;
  readonly node_version: string;
  readonly uptime_ms: number;
  readonly listeners: ReadonlyArray<{ readonly protocol: string; readonly host?: string; readonly port: number }>;
  readonly object_totals: Readonly<Record<'vhosts' | 'exchanges' | 'queues' | 'bindings' | 'consumers' | 'connections' | 'channels', number>> & {
    /** Servers with streams in the management API report them. */
    readonly streams?: number;
  };
  readonly queue_totals: Readonly<Record<'messages' | 'messages_ready' | 'messages_unacknowledged' | 'messages_scheduled', number>>;
  readonly message_stats: Readonly<Record<'publish_rate' | 'deliver_rate' | 'ack_rate' | 'unroutable_rate', number>>;
  readonly alarms: readonly string[];
  readonly storage_bytes: number | null;
}

/** The body of a publish (`POST /api/exchanges/{vhost}/{exchange}/publish`). */
export interface PublishRequest {
  readonly routing_key: string;
  readonly payload: string;
  readonly payload_encoding: 'string' | 'base64';
  readonly properties?: Readonly<Record<string, unknown>>;
}

/** What a publish did: routed to at least one queue, and which queues refused it (overflow `reject-publish`). */
export interface PublishOutcome {
  readonly routed: boolean;
  readonly rejected_by: readonly string[];
}

/** How `get` treats the messages it returns, as the API names it. */
export type AckMode = 'peek' | 'ack_requeue_true' | 'reject_requeue_true' | 'ack_requeue_false' | 'reject_requeue_false';

/** A message as `POST /api/queues/{vhost}/{queue}/get` returns it. */
export interface GotMessage {
  readonly exchange: string;
  readonly routing_key: string;
  /** UTF-8 text when `payload_encoding` is `string`, else base64. */
  readonly payload: string;
  readonly payload_encoding: 'string' | 'base64';
  readonly payload_bytes: number;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly redelivered: boolean;
  readonly delivery_count: number;
  /** Messages left ready in the queue after this get. */
  readonly message_count: number;
}

/** The path segment of the default exchange `""`, which cannot be an empty segment. */
const DEFAULT_EXCHANGE_PATH_NAME = 'amq.default';

const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;

/**
 * A small client of Ferry's management HTTP API (src/admin), with HTTP Basic
 * login, over Node's fetch. Every method resolves with the parsed JSON answer,
 * or rejects with a {@link ManagementApiError} carrying the server's error
 * code, or a FerryError `SERVER_UNREACHABLE` (no answer: refused, timed out)
 * or `INVALID_RESPONSE` (an answer that is not the API's JSON).
 */
export class ManagementClient {
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly requestTimeoutMs: number;

  constructor(options: ManagementClientOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${options.user}:${options.password}`, 'utf8').toString('base64')}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  }

  overview(): Promise<Overview> {
    return this.request('GET', '/api/overview');
  }

  /** The queues of `vhost`, or of every vhost the user sees when `vhost` is null. */
  queues(vhost: string | null): Promise<QueueInfo[]> {
    return this.request('GET', vhost === null ? '/api/queues' : `/api/queues/${segment(vhost)}`);
  }

  exchanges(vhost: string | null): Promise<ExchangeInfo[]> {
    return this.request('GET', vhost === null ? '/api/exchanges' : `/api/exchanges/${segment(vhost)}`);
  }

  bindings(vhost: string | null): Promise<BindingInfo[]> {
    return this.request('GET', vhost === null ? '/api/bindings' : `/api/bindings/${segment(vhost)}`);
  }

  /** Every connection the user may see (administrators and monitors see all). */
  connections(): Promise<ConnectionInfo[]> {
    return this.request('GET', '/api/connections');
  }

  /** Publishes one message; resolves once the server has it durably (for persistent messages). */
  publish(vhost: string, exchange: string, message: PublishRequest): Promise<PublishOutcome> {
    const name = exchange === '' ? DEFAULT_EXCHANGE_PATH_NAME : exchange;
    return this.request('POST', `/api/exchanges/${segment(vhost)}/${segment(name)}/publish`, message);
  }

  /**
   * Takes up to `count` messages. With `ack_requeue_false` they leave the queue
   * as the answer is made: a message in an answer that never arrives is lost.
   */
  get(vhost: string, queue: string, request: { readonly count: number; readonly ackmode: AckMode }): Promise<GotMessage[]> {
    return this.request('POST', `/api/queues/${segment(vhost)}/${segment(queue)}/get`, { ...request, encoding: 'auto' });
  }

  /** Removes every ready message; resolves with how many. */
  async purge(vhost: string, queue: string): Promise<number> {
    const answer = await this.request<{ messages_purged: number }>('DELETE', `/api/queues/${segment(vhost)}/${segment(queue)}/contents`);
    return answer.messages_purged;
  }

  /** Deletes a queue; resolves with how many messages went with it. */
  async deleteQueue(vhost: string, queue: string, conditions: { readonly ifEmpty: boolean; readonly ifUnused: boolean }): Promise<number> {
    const query = new URLSearchParams();
    if (conditions.ifEmpty) query.set('if_empty', 'true');
    if (conditions.ifUnused) query.set('if_unused', 'true');
    const suffix = query.size > 0 ? `?${query}` : '';
    const answer = await this.request<{ messages_deleted: number }>('DELETE', `/api/queues/${segment(vhost)}/${segment(queue)}${suffix}`);
    return answer.messages_deleted;
  }

  async deleteExchange(vhost: string, exchange: string, conditions: { readonly ifUnused: boolean }): Promise<void> {
    const suffix = conditions.ifUnused ? '?if_unused=true' : '';
    await this.request('DELETE', `/api/exchanges/${segment(vhost)}/${segment(exchange)}${suffix}`);
  }

  /** The whole topology as one JSON document (administrators only: it carries password hashes). */
  exportDefinitions(): Promise<unknown> {
    return this.request('GET', '/api/definitions');
  }

  /** Imports a definitions document; resolves with the server's counts of what it created. */
  async importDefinitions(document: unknown): Promise<Record<string, number>> {
    const answer = await this.request<{ imported: Record<string, number> }>('POST', '/api/definitions', document);
    return answer.imported;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (error) {
      throw new FerryError('SERVER_UNREACHABLE', `cannot reach ${this.baseUrl}: ${reasonOf(error, this.requestTimeoutMs)}`, { cause: error });
    }
    const text = await response.text();
    if (response.status === 204) return undefined as T;
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (typeof error?.code === 'string' && typeof error.message === 'string') throw new ManagementApiError(error.code, error.message, response.status);
      throw new FerryError('INVALID_RESPONSE', `${method} ${url} answered HTTP ${response.status} without an API error (is this Ferry's HTTP port?)`);
    }
    if (parsed === undefined) throw new FerryError('INVALID_RESPONSE', `${method} ${url} answered HTTP ${response.status} without JSON (is this Ferry's HTTP port?)`);
    return parsed as T;
  }
}

/** A vhost or name as one path segment: `/` becomes `%2F`. */
function segment(name: string): string {
  return encodeURIComponent(name);
}

/** Why fetch failed, in a few words: undici hides the socket error in `cause`. */
function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code !== 'string') return cause.message;
    return cause.message.includes(code) ? cause.message : `${code} ${cause.message}`.trim();
  }
  return error instanceof Error ? error.message : String(error);
}
