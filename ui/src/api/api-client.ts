/** An error answer of the management API: `{ "error": { "code", "message" } }` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * A path under /api with every interpolated value percent-encoded as one
 * segment: apiPath`/queues/${vhost}/${name}` gives `/api/queues/%2F/orders`.
 */
export function apiPath(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let path = '/api';
  strings.forEach((text, index) => {
    path += text;
    if (index < values.length) path += encodeURIComponent(String(values[index]));
  });
  return path;
}

/**
 * Talks to the management API with HTTP Basic. Every request says it comes
 * from script (`x-requested-with`), so a refused login answers 401 without a
 * challenge and the browser shows no login dialog of its own; the console
 * shows its form instead (`onUnauthorized`).
 */
export class ApiClient {
  constructor(
    private readonly authorization: string,
    private readonly onUnauthorized: () => void,
  ) {}

  /** The `Authorization` header value for a user and password. */
  static basic(user: string, password: string): string {
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return `Basic ${btoa(binary)}`;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Resolves with the parsed JSON body (undefined when empty); rejects with ApiError on an error answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: this.authorization, 'x-requested-with': 'XMLHttpRequest', accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), cache: 'no-store' });
    } catch (error) {
      throw new ApiError(0, 'NETWORK_ERROR', `the broker did not answer (${error instanceof Error ? error.message : String(error)})`);
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ApiError(response.status, 'INVALID_RESPONSE', `the broker answered ${response.status} with something that is not JSON`);
      }
    }
    if (!response.ok) {
      const failure = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      const error = new ApiError(response.status, failure?.code ?? `HTTP_${response.status}`, failure?.message ?? response.statusText);
      if (response.status === 401) this.onUnauthorized();
      throw error;
    }
    return parsed as T;
  }
}

/** One line for a failure, for notices: the code and the server's message. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
