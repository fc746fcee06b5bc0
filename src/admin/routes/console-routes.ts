import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FerryError } from '../../lib/ferry-error.js';
import type { ConsoleAsset, ConsoleAssets } from '../console-assets.js';

/**
 * The page's own rules: scripts, styles, images and API calls from this
 * server only, so the console can never reach the network beyond the broker.
 * Inline styles are allowed for the chart library's legend and cursor.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The web console at `/` (no login: the page itself holds no data, it logs in
 * to `/api`). One route per built file, so no path can reach beyond them;
 * without a built console, `/` answers 404 NOT_FOUND saying how to build it.
 */
export function registerConsoleRoutes(app: FastifyInstance, assets: ConsoleAssets | null): void {
  if (assets === null) {
    app.get('/', async () => {
      throw new FerryError('NOT_FOUND', 'the web console is not built: run npm run build (or npm run build:ui)');
    });
    return;
  }
  for (const asset of assets.list()) {
    app.get(asset.path, async (request, reply) => sendAsset(asset, request, reply));
    if (asset.path === '/') app.get('/index.html', async (request, reply) => sendAsset(asset, request, reply));
  }
}

function sendAsset(asset: ConsoleAsset, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('cache-control', asset.cacheControl).header('etag', asset.etag).header('x-content-type-options', 'nosniff');
  if (asset.contentType.startsWith('text/html')) {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
  }
  if (asset.gzipped !== null) reply.header('vary', 'accept-encoding');
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
    return reply.code(304).send();
  }
  reply.type(asset.contentType);
  if (asset.gzipped !== null && acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(asset.gzipped);
  return reply.send(asset.body);
}

/** True unless the client refuses gzip (`gzip;q=0`) or does not name it. */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...parameters] = part.trim().split(';');
    if (coding?.trim().toLowerCase() !== 'gzip' && coding?.trim() !== '*') return false;
    const quality = parameters.map((parameter) => parameter.trim()).find((parameter) => parameter.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}
