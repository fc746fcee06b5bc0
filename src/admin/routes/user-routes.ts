import type { FastifyInstance } from 'fastify';
import type { PermissionEntry } from '../../core/routing/permissions.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, type AdminContext } from '../admin-context.js';

/** Body of `PUT /api/users/{name}`. */
interface PutUserBody {
  readonly password?: string;
  readonly password_hash?: string;
  /** A list, or RabbitMQ's comma-separated string. */
  readonly tags?: readonly string[] | string;
  readonly loopback_only?: boolean;
}

interface PermissionBody {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

const PUT_USER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    password: { type: 'string' },
    password_hash: { type: 'string', minLength: 1 },
    tags: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] },
    loopback_only: { type: 'boolean' },
  },
} as const;

const PERMISSION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['configure', 'write', 'read'],
  properties: { configure: { type: 'string' }, write: { type: 'string' }, read: { type: 'string' } },
} as const;

function permissionView(entry: PermissionEntry): Record<string, unknown> {
  return { user: entry.user, vhost: entry.vhost, configure: entry.configure, write: entry.write, read: entry.read };
}

function tagsOf(tags: readonly string[] | string | undefined): string[] | undefined {
  if (tags === undefined) return undefined;
  const list = typeof tags === 'string' ? tags.split(',') : tags;
  return list.map((tag) => tag.trim()).filter((tag) => tag.length > 0);
}

/** Users and permissions (administrators only), and `whoami` (anyone). */
export function registerUserRoutes(api: FastifyInstance, context: AdminContext): void {
  const { core, management, authenticator } = context;

  const userView = (name: string): Record<string, unknown> => {
    const user = core.access.listUsers().find((candidate) => candidate.name === name);
    if (!user) throw new FerryError('USER_NOT_FOUND', `no user ${name}`);
    return { name: user.name, tags: [...user.tags], loopback_only: user.loopbackOnly };
  };

  api.get('/whoami', async (request) => {
    const principal = principalOf(request);
    return { name: principal.user, tags: [...principal.tags] };
  });

  api.get('/users', async (request) => {
    management.requireAdministrator(principalOf(request));
    return core.access.listUsers().map((user) => ({ name: user.name, tags: [...user.tags], loopback_only: user.loopbackOnly }));
  });

  api.get<{ Params: { name: string } }>('/users/:name', async (request) => {
    management.requireAdministrator(principalOf(request));
    return userView(request.params.name);
  });

  api.put<{ Params: { name: string }; Body: PutUserBody | undefined }>('/users/:name', { schema: { body: PUT_USER_SCHEMA } }, async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const name = request.params.name;
    const body = request.body ?? {};
    const existing = core.access.listUserRecords().find((user) => user.name === name);
    if (body.password !== undefined && body.password_hash !== undefined) {
      throw new FerryError('INVALID_REQUEST', 'give password or password_hash, not both');
    }
    const tags = tagsOf(body.tags) ?? existing?.tags ?? [];
    const loopbackOnly = body.loopback_only ?? existing?.loopbackOnly ?? false;
    if (body.password !== undefined) {
      await core.access.putUser(name, body.password, { tags, loopbackOnly });
    } else if (body.password_hash !== undefined || existing) {
      await core.access.putUserRecord({ name, passwordHash: body.password_hash ?? existing!.passwordHash, tags, loopbackOnly });
    } else {
      throw new FerryError('INVALID_REQUEST', `a new user needs password or password_hash`);
    }
    authenticator.forget(name);
    return reply.code(existing ? 200 : 201).send(userView(name));
  });

  api.delete<{ Params: { name: string } }>('/users/:name', async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const deleted = await core.access.deleteUser(request.params.name);
    if (!deleted) throw new FerryError('USER_NOT_FOUND', `no user ${request.params.name}`);
    authenticator.forget(request.params.name);
    return reply.code(204).send();
  });

  api.get<{ Params: { name: string } }>('/users/:name/permissions', async (request) => {
    management.requireAdministrator(principalOf(request));
    userView(request.params.name);
    return core.access.listPermissions().filter((entry) => entry.user === request.params.name).map(permissionView);
  });

  api.get('/permissions', async (request) => {
    management.requireAdministrator(principalOf(request));
    return core.access.listPermissions().map(permissionView);
  });

  const permissionOf = (vhost: string, user: string): PermissionEntry => {
    core.vhost(vhost);
    userView(user);
    const entry = core.access.listPermissions().find((candidate) => candidate.vhost === vhost && candidate.user === user);
    if (!entry) throw new FerryError('PERMISSION_NOT_FOUND', `user ${user} has no permissions in vhost ${vhost}`);
    return entry;
  };

  api.get<{ Params: { vhost: string; user: string } }>('/permissions/:vhost/:user', async (request) => {
    management.requireAdministrator(principalOf(request));
    return permissionView(permissionOf(request.params.vhost, request.params.user));
  });

  api.put<{ Params: { vhost: string; user: string }; Body: PermissionBody }>(
    '/permissions/:vhost/:user',
    { schema: { body: PERMISSION_SCHEMA } },
    async (request, reply) => {
      management.requireAdministrator(principalOf(request));
      const { vhost, user } = request.params;
      core.vhost(vhost);
      const existed = core.access.listPermissions().some((entry) => entry.vhost === vhost && entry.user === user);
      await core.access.setPermissions(user, vhost, { configure: request.body.configure, write: request.body.write, read: request.body.read });
      return reply.code(existed ? 200 : 201).send(permissionView(permissionOf(vhost, user)));
    },
  );

  api.delete<{ Params: { vhost: string; user: string } }>('/permissions/:vhost/:user', async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const { vhost, user } = request.params;
    permissionOf(vhost, user);
    await core.access.clearPermissions(user, vhost);
    return reply.code(204).send();
  });
}
