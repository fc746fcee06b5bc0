import type { FastifyInstance } from 'fastify';
import { principalOf, type AdminContext } from '../admin-context.js';
import { exportDefinitions, importDefinitions, parseDefinitions } from '../definitions-document.js';

/**
 * `GET /api/definitions` exports the topology (vhosts, users, permissions,
 * exchanges, queues, bindings) as one JSON document; `POST` imports one.
 * Administrators only: the document carries password hashes.
 */
export function registerDefinitionRoutes(api: FastifyInstance, context: AdminContext): void {
  const { core, management, authenticator } = context;

  api.get('/definitions', async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const document = exportDefinitions(core, context.version);
    return reply.header('content-disposition', 'attachment; filename="ferry-definitions.json"').send(document);
  });

  api.post<{ Body: unknown }>('/definitions', async (request) => {
    management.requireAdministrator(principalOf(request));
    const document = parseDefinitions(request.body);
    try {
      return { imported: await importDefinitions(core, document) };
    } finally {
      // Users may have changed passwords or tags.
      authenticator.forget();
    }
  });
}
