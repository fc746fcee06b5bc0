/**
 * The client side of `bench:native`, in its own process so the broker's CPU
 * and the client's are separate (see native.bench.ts, which starts it):
 *
 *   node dist/bench/native-client-child.js <scenario> <json settings>
 *
 * Prints one JSON line with the scenario's measurements on stdout.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { connect } from '../src/client/index.js';
import { patternBytes, quantile, SampleBuffer } from './scenario-runner.js';

/** What the parent passes to the child. */
export interface ChildSettings {
  /** ferry://127.0.0.1:PORT */
  readonly url: string;
  /** Base URL of Ferry's HTTP listener (http-publish). */
  readonly httpUrl: string;
  /** Base URL of the bare node:http server (http-publish). */
  readonly bareHttpUrl: string;
  /** Port of the bare TCP relay on 127.0.0.1 (rpc), 0 for none. */
  readonly bareRelayPort: number;
  readonly measureMs: number;
  readonly warmupMs: number;
  /** Upper bound on messages, so a quick run stays small whatever the speed. */
  readonly countMax: number;
}

const STREAM_CHUNK = 10_000;
const STREAM_CHUNKS_IN_FLIGHT = 8;

/** Appends 100 B messages to a one-partition stream in chunks, several chunks awaiting confirmation at once. */
async function streamPublish(settings: ChildSettings): Promise<Record<string, unknown>> {
  const client = await connect(settings.url);
  try {
    await client.declareStream('bench-publish', { partitions: 1 });
    const publisher = client.publisher({ stream: 'bench-publish', partition: 0 });
    const body = patternBytes(100, 1);
    const run = async (durationMs: number) => {
      const inFlight: Promise<unknown>[] = [];
      let sent = 0;
      const startMs = performance.now();
      while (performance.now() - startMs < durationMs && sent < settings.countMax) {
        for (let i = 0; i < STREAM_CHUNK - 1; i++) publisher.write(body);
        inFlight.push(publisher.send(body));
        sent += STREAM_CHUNK;
        if (inFlight.length >= STREAM_CHUNKS_IN_FLIGHT) await inFlight.shift();
      }
      await publisher.flush();
      return { sent, seconds: (performance.now() - startMs) / 1000 };
    };
    await run(settings.warmupMs);
    const { sent, seconds } = await run(settings.measureMs);
    return { msgsPerSec: Math.round(sent / seconds), messages: sent, seconds, bodyBytes: 100, batchMessages: STREAM_CHUNK };
  } finally {
    await client.close();
  }
}

/** Fills a stream, then reads it from the first offset with a stream reader. */
async function streamConsume(settings: ChildSettings): Promise<Record<string, unknown>> {
  const client = await connect(settings.url);
  try {
    await client.declareStream('bench-consume', { partitions: 1 });
    const publisher = client.publisher({ stream: 'bench-consume', partition: 0 });
    const body = patternBytes(100, 2);
    const count = settings.countMax;
    for (let written = 0; written < count; written += STREAM_CHUNK) {
      for (let i = 0; i < STREAM_CHUNK; i++) publisher.write(body);
      if ((written / STREAM_CHUNK) % STREAM_CHUNKS_IN_FLIGHT === 0) await publisher.flush();
    }
    await publisher.flush();
    const read = async (): Promise<{ entries: number; seconds: number; bytes: number }> => {
      const reader = await client.streamReader('bench-consume', { from: 'first', credit: 20_000 });
      const startMs = performance.now();
      let entries = 0;
      let bytes = 0;
      for await (const entry of reader) {
        entries++;
        bytes += entry.body.byteLength;
        if (entries === count) break;
      }
      return { entries, seconds: (performance.now() - startMs) / 1000, bytes };
    };
    await read(); // Warm-up: the code paths and the page cache.
    const { entries, seconds, bytes } = await read();
    return { msgsPerSec: Math.round(entries / seconds), messages: entries, seconds, MBPerSec: Math.round(bytes / seconds / 1e6), bodyBytes: 100 };
  } finally {
    await client.close();
  }
}

/** Publishes 256 B persistent messages to a durable queue and consumes them with manual acks, on two connections. */
async function queueRoundtrip(settings: ChildSettings): Promise<Record<string, unknown>> {
  const producer = await connect(settings.url);
  const consumerClient = await connect(settings.url);
  try {
    await producer.declareQueue('bench-roundtrip', { durable: true });
    const latenciesMs = new SampleBuffer();
    let received = 0;
    let measuring = false;
    await consumerClient.consume('bench-roundtrip', { prefetch: 4_000 }, (message) => {
      received++;
      if (measuring) latenciesMs.push(performance.now() - new DataView(message.body.buffer, message.body.byteOffset, 8).getFloat64(0, true));
      message.ack();
    });
    const publisher = producer.publisher({ queue: 'bench-roundtrip' });
    const body = patternBytes(256, 3);
    const chunk = 2_000;
    const run = async (durationMs: number) => {
      const startMs = performance.now();
      const receivedBefore = received;
      let sent = 0;
      const inFlight: Promise<unknown>[] = [];
      while (performance.now() - startMs < durationMs && sent < settings.countMax) {
        for (let i = 0; i < chunk; i++) {
          const message = body.slice();
          new DataView(message.buffer).setFloat64(0, performance.now(), true);
          if (i === chunk - 1) inFlight.push(publisher.send({ body: message, persistent: true }));
          else publisher.write({ body: message, persistent: true });
        }
        sent += chunk;
        if (inFlight.length >= 8) await inFlight.shift();
        // Keep the queue short: the scenario measures a flow, not a backlog.
        while (sent - (received - receivedBefore) > 8_000) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await publisher.flush();
      const deadline = performance.now() + 30_000;
      while (received - receivedBefore < sent && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
      return { sent, delivered: received - receivedBefore, seconds: (performance.now() - startMs) / 1000 };
    };
    await run(settings.warmupMs);
    measuring = true;
    const { sent, delivered, seconds } = await run(settings.measureMs);
    measuring = false;
    const samples = latenciesMs.view();
    return { msgsPerSec: Math.round(delivered / seconds), messages: delivered, published: sent, seconds, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99), bodyBytes: 256 };
  } finally {
    await producer.close();
    await consumerClient.close();
  }
}

/** Runs `roundTrip` one at a time for the warm-up, then measures it for `measureMs`. */
async function timeRoundTrips(settings: ChildSettings, roundTrip: () => Promise<void>): Promise<{ p50Us: number; p99Us: number; count: number; seconds: number }> {
  const latenciesUs = new SampleBuffer();
  const run = async (durationMs: number, record: boolean) => {
    const startMs = performance.now();
    let count = 0;
    while (performance.now() - startMs < durationMs && count < settings.countMax) {
      const sentMs = performance.now();
      await roundTrip();
      if (record) latenciesUs.push((performance.now() - sentMs) * 1000);
      count++;
    }
    return { count, seconds: (performance.now() - startMs) / 1000 };
  };
  await run(settings.warmupMs, false);
  const { count, seconds } = await run(settings.measureMs, true);
  const samples = latenciesUs.view();
  return { p50Us: Math.round(quantile(samples, 0.5)), p99Us: Math.round(quantile(samples, 0.99)), count, seconds };
}

/**
 * Opens a socket to the bare relay on `port` in `role` (see startBareRelay in native.bench.ts);
 * `ready` resolves when the relay has both sides (its one `!` byte, read before any other listener).
 */
async function relaySocket(port: number, role: 'Q' | 'R'): Promise<{ socket: net.Socket; ready: Promise<unknown> }> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const ready = new Promise((resolve) => socket.once('data', resolve));
  socket.write(role);
  return { socket, ready };
}

/**
 * The same round trip as {@link rpc} with no broker: `bodyBytes` out from the requester, through
 * the relay to the responder in this process, echoed, and back through the relay.
 */
async function bareRelayRoundTrips(settings: ChildSettings, bodyBytes: number): Promise<{ p50Us: number; p99Us: number }> {
  const responderSide = await relaySocket(settings.bareRelayPort, 'R');
  const requesterSide = await relaySocket(settings.bareRelayPort, 'Q');
  // Nothing is sent until both have their ready byte, so it arrives alone and is not echoed or counted.
  await Promise.all([responderSide.ready, requesterSide.ready]);
  const responder = responderSide.socket;
  const requester = requesterSide.socket;
  responder.on('data', (data) => responder.write(data));
  const body = Buffer.from(patternBytes(bodyBytes, 5));
  let received = 0;
  let answered: (() => void) | null = null;
  requester.on('data', (data: Buffer) => {
    received += data.byteLength;
    if (received >= bodyBytes && answered !== null) {
      received -= bodyBytes;
      const done = answered;
      answered = null;
      done();
    }
  });
  try {
    return await timeRoundTrips(settings, () => {
      const reply = new Promise<void>((resolve) => (answered = resolve));
      requester.write(body);
      return reply;
    });
  } finally {
    requester.destroy();
    responder.destroy();
  }
}

/** Request/reply round trips, one at a time, between two connections of this process. */
async function rpc(settings: ChildSettings): Promise<Record<string, unknown>> {
  const server = await connect(settings.url);
  const requester = await connect(settings.url);
  try {
    await server.declareQueue('bench-rpc', { durable: false });
    await server.respond('bench-rpc', (request) => ({ body: request.body, persistent: false }));
    const body = patternBytes(RPC_BODY_BYTES, 4);
    const ferry = await timeRoundTrips(settings, async () => void (await requester.request('bench-rpc', { body, persistent: false })));
    const relay = settings.bareRelayPort > 0 ? await bareRelayRoundTrips(settings, RPC_BODY_BYTES) : null;
    return {
      p50Us: ferry.p50Us,
      p99Us: ferry.p99Us,
      roundTrips: ferry.count,
      roundTripsPerSec: Math.round(ferry.count / ferry.seconds),
      ...(relay && { bareRelayP50Us: relay.p50Us, bareRelayP99Us: relay.p99Us, p50ToBareRelay: Math.round((ferry.p50Us / relay.p50Us) * 100) / 100 }),
    };
  } finally {
    await requester.close();
    await server.close();
  }
}

const HTTP_CONCURRENCY = 16;
const RPC_BODY_BYTES = 64;

/** POSTs as many requests as it can over `HTTP_CONCURRENCY` keep-alive connections for `durationMs`. */
async function postLoop(url: string, payload: string, headers: http.OutgoingHttpHeaders, durationMs: number, countMax: number): Promise<{ requests: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
  const target = new URL(url);
  const startMs = performance.now();
  let requests = 0;
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const request = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
        (response) => {
          response.resume();
          response.on('end', () => (response.statusCode === 200 || response.statusCode === 201 ? resolve() : reject(new Error(`${url} answered ${response.statusCode}`))));
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  const worker = async () => {
    while (performance.now() - startMs < durationMs && requests < countMax) {
      await post();
      requests++;
    }
  };
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, worker));
  agent.destroy();
  return { requests, seconds: (performance.now() - startMs) / 1000 };
}

/** HTTP publishes to Ferry against a bare node:http server answering 200, same client, same run. */
async function httpPublish(settings: ChildSettings): Promise<Record<string, unknown>> {
  const authorization = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  const client = await connect(settings.url);
  try {
    await client.declareQueue('bench-http', { durable: true, maxLength: 100_000 });
  } finally {
    await client.close();
  }
  const payload = JSON.stringify({ routing_key: 'bench-http', payload: 'x'.repeat(100) });
  const ferryUrl = `${settings.httpUrl}/api/exchanges/%2F/amq.default/messages`;
  await postLoop(ferryUrl, payload, { authorization }, settings.warmupMs, settings.countMax);
  const ferry = await postLoop(ferryUrl, payload, { authorization }, settings.measureMs, settings.countMax);
  await postLoop(settings.bareHttpUrl, payload, {}, settings.warmupMs, settings.countMax);
  const bare = await postLoop(settings.bareHttpUrl, payload, {}, settings.measureMs, settings.countMax);
  const ferryPerSec = ferry.requests / ferry.seconds;
  const barePerSec = bare.requests / bare.seconds;
  return {
    ratioToBareHttp: Math.round((ferryPerSec / barePerSec) * 1000) / 1000,
    requestsPerSec: Math.round(ferryPerSec),
    bareRequestsPerSec: Math.round(barePerSec),
    concurrency: HTTP_CONCURRENCY,
    bodyBytes: 100,
  };
}

const SCENARIOS: Record<string, (settings: ChildSettings) => Promise<Record<string, unknown>>> = {
  'stream-publish': streamPublish,
  'stream-consume': streamConsume,
  'queue-roundtrip': queueRoundtrip,
  rpc,
  'http-publish': httpPublish,
};

async function main(): Promise<void> {
  const [scenario, json] = process.argv.slice(2);
  const run = scenario === undefined ? undefined : SCENARIOS[scenario];
  if (run === undefined || json === undefined) {
    process.stderr.write(`usage: node dist/bench/native-client-child.js ${Object.keys(SCENARIOS).join('|')} '<settings json>'\n`);
    process.exit(2);
  }
  const result = await run(JSON.parse(json) as ChildSettings);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
