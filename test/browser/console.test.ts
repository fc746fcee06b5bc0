/**
 * The web console in a real browser: Debian's Chromium (/usr/bin/chromium),
 * driven by playwright-core, against a real `ferry serve` on 127.0.0.1 with
 * memory storage. Skipped, saying why, where Chromium is not installed
 * (.ci/run installs it). Screenshots go to test-artifacts/console/
 * (FERRY_TEST_ARTIFACTS overrides the folder).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as amqp from 'amqplib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig } from '../../src/server/config.js';
import { Logger } from '../../src/server/logger.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

const CHROMIUM = process.env['FERRY_CHROMIUM'] ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) to run the browser tests`;
const ARTIFACTS = resolve(process.env['FERRY_TEST_ARTIFACTS'] ?? 'test-artifacts', 'console');
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const QUEUE = 'console-orders';
const PAYLOAD = 'hello from the console';

/** Chromium without the background traffic it would send to Google's hosts (the machine has no network to give). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

let server: RunningServer;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Requests to anything but the broker, and errors in the page (CSP violations among them). */
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

/** Calls the management API as guest; returns status and JSON body. */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: GUEST };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

/** Saves the whole page, or only what is on screen (a modal dialog covers only the screen). */
async function screenshot(target: Page, name: string, options: { fullPage: boolean } = { fullPage: true }): Promise<void> {
  // From the top: the sticky top bar would otherwise be drawn where the page was scrolled to.
  if (options.fullPage) await target.evaluate('window.scrollTo(0, 0)');
  await target.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: options.fullPage });
}

/** Opens a page that records foreign requests and page errors. */
async function openPage(browserContext: BrowserContext): Promise<Page> {
  const opened = await browserContext.newPage();
  opened.on('request', (request) => {
    if (!request.url().startsWith(baseUrl) && !request.url().startsWith('data:')) foreignRequests.push(request.url());
  });
  opened.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
  opened.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[14]/.test(message.text())) pageErrors.push(`console error: ${message.text()}`);
  });
  return opened;
}

async function logIn(target: Page): Promise<void> {
  await target.goto(`${baseUrl}/`);
  await target.getByLabel('User').fill('guest');
  await target.getByLabel('Password').fill('guest');
  await target.getByRole('button', { name: 'Log in' }).click();
  await target.getByRole('heading', { name: 'Overview' }).waitFor();
}

/** Number of the `data-value` attribute of an element. */
async function valueOf(target: Page, testId: string): Promise<number> {
  return Number(await target.getByTestId(testId).getAttribute('data-value'));
}

describe('web console', { skip }, () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const config = loadConfig(['--memory', '--host', '127.0.0.1', '--http-port', '0', '--amqp-port', '0', '--native-port', '0'], {}, () => '');
    server = await startServer(config, { logger: new Logger({ level: 'error', write: () => undefined }) });
    baseUrl = server.addresses.find((address) => address.protocol === 'http')!.url;
    const index = await fetch(`${baseUrl}/`);
    assert.equal(index.status, 200, `the console is not built (GET / answered ${index.status}): run npm run build`);
    // Playwright gives each launch a fresh temporary profile (its own --user-data-dir).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 20_000 });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await openPage(context);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('logs in and shows the overview with its charts', async () => {
    await logIn(page);
    await page.getByTestId('overview-rate-chart').locator('canvas').waitFor();
    await page.getByTestId('overview-depth-chart').locator('canvas').waitFor();
    await screenshot(page, '01-overview');
  });

  test('the publish-rate chart moves while messages are published', async () => {
    assert.equal((await api('PUT', '/api/queues/%2F/load')).status, 201);
    const chart = page.getByTestId('overview-rate-chart').locator('canvas');
    const before = await chart.screenshot();
    const pointsBefore = Number(await page.getByTestId('overview-rate-chart').getAttribute('data-points'));
    const deadline = Date.now() + 15_000;
    let published = 0;
    // Publish in bursts until the chart's newest publish rate is above zero (the broker samples every second).
    while (Date.now() < deadline) {
      await Promise.all(Array.from({ length: 20 }, () => api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'load', payload: 'x' })));
      published += 20;
      if ((await valueOf(page, 'overview-rate-chart-publish')) > 0 && published >= 100) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok((await valueOf(page, 'overview-rate-chart-publish')) > 0, 'the publish rate shown rose above zero');
    const pointsAfter = Number(await page.getByTestId('overview-rate-chart').getAttribute('data-points'));
    assert.ok(pointsAfter > pointsBefore, `the chart took new points (${pointsBefore} → ${pointsAfter})`);
    const after = await chart.screenshot();
    assert.notDeepEqual(after, before, 'the chart was redrawn with the new rate');
    await page.getByTestId('overview-depth-chart-ready').filter({ hasNotText: /^0$/ }).waitFor();
    await screenshot(page, '02-overview-rates-moving');
    assert.equal((await api('DELETE', '/api/queues/%2F/load')).status, 200);
  });

  test('declares a queue from the form on the queue list', async () => {
    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    await page.getByText('Add a queue').click();
    await page.getByTestId('queue-name').fill(QUEUE);
    await page.getByTestId('declare-queue-submit').click();
    await page.getByTestId('notice-success').filter({ hasText: `Queue ${QUEUE} declared` }).waitFor();
    await page.getByTestId('queue-table').getByRole('link', { name: QUEUE }).waitFor();
    const declared = await api('GET', `/api/queues/%2F/${QUEUE}`);
    assert.equal(declared.status, 200);
    assert.equal(declared.body.durable, true);
    await page.getByTestId('queue-table-filter').fill('orders');
    await screenshot(page, '03-queue-declared');
  });

  test('publishes from the queue page and shows the message in the browser', async () => {
    await page.getByTestId('queue-table').getByRole('link', { name: QUEUE }).click();
    await page.getByRole('heading', { name: QUEUE }).waitFor();
    await page.getByTestId('publish-payload').fill(PAYLOAD);
    await page.getByTestId('publish-submit').click();
    await page.getByTestId('notice-success').filter({ hasText: 'Message published' }).waitFor();
    await page.getByTestId('queue-ready').filter({ hasText: /^1$/ }).waitFor();
    await page.getByTestId('browse-submit').click();
    const message = page.getByTestId('message-payload');
    await message.waitFor();
    assert.equal(await message.textContent(), PAYLOAD);
    // Peeking leaves the message in place.
    assert.equal((await api('GET', `/api/queues/%2F/${QUEUE}`)).body.messages_ready, 1);
    await screenshot(page, '04-queue-page-message');
  });

  test('purges the queue after confirmation', async () => {
    await page.getByTestId('purge-queue').click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.getByRole('heading', { name: `Purge queue ${QUEUE}?` }).waitFor();
    await screenshot(page, '05-confirm-purge', { fullPage: false });
    // Cancel first: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api('GET', `/api/queues/%2F/${QUEUE}`)).body.messages_ready, 1);
    await page.getByTestId('purge-queue').click();
    await dialog.getByRole('button', { name: 'Purge messages' }).click();
    await page.getByTestId('notice-success').filter({ hasText: 'Purged 1 message' }).waitFor();
    await page.getByTestId('queue-ready').filter({ hasText: /^0$/ }).waitFor();
    assert.equal((await api('GET', `/api/queues/%2F/${QUEUE}`)).body.messages_ready, 0);
    await page.getByTestId('browse-submit').click();
    await page.getByTestId('message-list-empty').waitFor();
  });

  test('deletes the queue after confirmation and returns to the list', async () => {
    await page.getByTestId('delete-queue').click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Delete queue' }).click();
    await page.getByTestId('notice-success').filter({ hasText: `Queue ${QUEUE} deleted` }).waitFor();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    assert.equal((await api('GET', `/api/queues/%2F/${QUEUE}`)).status, 404);
    await page.getByTestId('queue-table-filter').fill('');
    await page.getByTestId('queue-table').getByRole('link', { name: QUEUE }).waitFor({ state: 'detached' });
    await screenshot(page, '06-queue-deleted');
  });

  test('lists connections and consumers, and closes a connection after confirmation', async () => {
    const amqpUrl = server.addresses.find((address) => address.protocol === 'amqp')!.url;
    const client = await amqp.connect(`${amqpUrl.replace('amqp://', 'amqp://guest:guest@')}`);
    client.on('error', () => undefined); // Closed by the broker below, on purpose.
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    const channel = await client.createChannel();
    await channel.assertQueue('console-work');
    await channel.prefetch(5);
    await channel.consume('console-work', () => undefined, { consumerTag: 'console-worker' });
    await page.getByRole('link', { name: 'Consumers', exact: true }).click();
    await page.getByTestId('consumer-table').getByText('console-worker').waitFor();
    await page.getByRole('link', { name: 'Connections', exact: true }).click();
    const row = page.getByTestId('connection-table').locator('tbody tr').filter({ hasText: 'amqp' });
    await row.waitFor();
    await screenshot(page, '07-connections');
    await row.getByRole('button', { name: 'Close' }).click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Close connection' }).click();
    await page.getByTestId('notice-success').filter({ hasText: 'Connection closed' }).waitFor();
    await closed;
    assert.deepEqual((await api('GET', '/api/connections')).body, []);
    assert.equal((await api('DELETE', '/api/queues/%2F/console-work')).status, 200);
  });

  test('lists streams and exchanges, sorted by any column', async () => {
    assert.equal((await api('PUT', '/api/streams/%2F/console-events', { partitions: 2 })).status, 201);
    await page.getByRole('link', { name: 'Streams', exact: true }).click();
    await page.getByTestId('stream-table').getByRole('link', { name: 'console-events' }).click();
    await page.getByRole('heading', { name: 'console-events' }).waitFor();
    await screenshot(page, '08-stream-page');
    await page.getByRole('link', { name: 'Exchanges', exact: true }).click();
    await page.getByTestId('exchange-table').getByRole('link', { name: 'amq.topic' }).waitFor();
    // Sorting by type puts the direct exchanges before the topic ones.
    await page.getByTestId('exchange-table').getByRole('button', { name: 'Type' }).click();
    const firstType = await page.getByTestId('exchange-table').locator('tbody tr td:nth-child(3)').first().textContent();
    assert.equal(firstType, 'direct');
    await screenshot(page, '09-exchanges');
    assert.equal((await api('DELETE', '/api/streams/%2F/console-events')).status, 200);
  });

  test('is readable at phone width (390 px)', async () => {
    await api('PUT', '/api/queues/%2F/phone-queue');
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    phone.setDefaultTimeout(10_000);
    try {
      const small = await openPage(phone);
      await logIn(small);
      await small.getByTestId('overview-rate-chart').locator('canvas').waitFor();
      const overflow = Number(await small.evaluate('document.documentElement.scrollWidth'));
      assert.ok(overflow <= 390, `nothing is wider than the screen (page is ${overflow} px wide)`);
      await screenshot(small, '10-phone-overview');
      await small.getByRole('link', { name: 'Queues', exact: true }).click();
      await small.getByTestId('queue-table').getByRole('link', { name: 'phone-queue' }).click();
      await small.getByRole('heading', { name: 'phone-queue' }).waitFor();
      assert.ok(Number(await small.evaluate('document.documentElement.scrollWidth')) <= 390, 'the queue page fits the screen');
      await screenshot(small, '11-phone-queue');
    } finally {
      await phone.close();
      await api('DELETE', '/api/queues/%2F/phone-queue');
    }
  });

  test('loads nothing from outside the broker and logs no errors', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
  });
});
