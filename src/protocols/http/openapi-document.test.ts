import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { testPasswordHasher } from '../../core/test-broker.js';
import { Broker } from '../../server/broker.js';
import { registerHttpMessaging } from './http-messaging.js';
import { openApiPathOf } from './openapi-document.js';

let broker: Broker;
let app: FastifyInstance;
const registered: Array<{ method: string; url: string }> = [];
let document: any;

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  app = Fastify({ logger: false });
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url });
  });
  await app.register(
    async (api) => {
      await registerHttpMessaging(api, { core: broker.core, principalOf: () => ({ user: 'guest', tags: [] }), messageBytesMax: 1024, version: '9.9.9' });
    },
    { prefix: '/api' },
  );
  await app.ready();
  const answer = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(answer.statusCode, 200);
  document = answer.json();
});

after(async () => {
  await app.close();
  await broker.close();
});

test('the OpenAPI document is 3.1 with the version it was given and HTTP Basic as its security', () => {
  assert.equal(document.openapi, '3.1.0');
  assert.equal(document.info.version, '9.9.9');
  assert.deepEqual(document.security, [{ basic: [] }]);
  assert.deepEqual(document.components.securitySchemes.basic, { type: 'http', scheme: 'basic' });
});

test('every registered messaging route is in the document, and the document has no route that is not registered', () => {
  const routes = registered.filter((route) => route.method !== 'HEAD');
  assert.ok(routes.length >= 10, `the API registers its routes (${routes.length})`);
  const documented = new Set<string>();
  for (const [path, operations] of Object.entries<Record<string, unknown>>(document.paths)) {
    for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path}`);
  }
  const served = new Set(routes.map((route) => `${route.method} ${openApiPathOf(route.url.replace(/^\/api/, ''))}`));
  assert.deepEqual([...served].sort(), [...documented].sort());
});

test('each operation has a unique id, its path parameters, a success answer and the shared error answer', () => {
  const ids = new Set<string>();
  for (const [path, operations] of Object.entries<Record<string, any>>(document.paths)) {
    for (const [method, operation] of Object.entries<any>(operations)) {
      assert.ok(!ids.has(operation.operationId), `${operation.operationId} is unique`);
      ids.add(operation.operationId);
      assert.ok(operation.summary.length > 0 && operation.description.length > 0, `${method} ${path} is described`);
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]).sort();
      const pathParameters = operation.parameters.filter((parameter: any) => parameter.in === 'path');
      assert.deepEqual(pathParameters.map((parameter: any) => parameter.name).sort(), inPath, `${method} ${path} declares its path parameters`);
      assert.ok(pathParameters.every((parameter: any) => parameter.required === true));
      assert.ok(operation.responses['200'], `${method} ${path} documents its success`);
      assert.deepEqual(operation.responses['4XX'], { $ref: '#/components/responses/Error' });
    }
  }
});

test('the documented schemas are those fastify validates with: a request the document forbids is refused', async () => {
  const pull = document.paths['/api/queues/{vhost}/{name}/pull'].post;
  const max = pull.parameters.find((parameter: any) => parameter.name === 'max');
  assert.equal(max.in, 'query');
  assert.equal(max.schema.pattern, '^[0-9]{1,15}$');
  await broker.declareQueue('q');
  const refused = await app.inject({ method: 'POST', url: '/api/queues/%2F/q/pull?max=abc' });
  assert.equal(refused.statusCode, 400);
  const publish = document.paths['/api/exchanges/{vhost}/{name}/messages'].post;
  assert.deepEqual(Object.keys(publish.requestBody.content), ['application/json', '*/*']);
  const batch = publish.requestBody.content['application/json'].schema.then;
  assert.equal(batch.properties.messages.maxItems, 1_000, 'limits show in the document');
  const subscribe = document.paths['/api/queues/{vhost}/{name}/subscribe'].get;
  assert.ok(subscribe.responses['200'].content['text/event-stream']);
  assert.ok(subscribe.responses['101'], 'the WebSocket upgrade is documented');
});

test('every $ref in the document resolves', () => {
  const resolve = (pointer: string): unknown => pointer.replace(/^#\//, '').split('/').reduce<any>((node, key) => node?.[key], document);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref') assert.ok(resolve(value as string) !== undefined, `${String(value)} resolves`);
        else visit(value);
      }
    }
  };
  visit(document);
});
