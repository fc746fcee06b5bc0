// Layering of shared/ARCHITECTURE.md §4, checked by `npm run check:layers`:
// lib <- platform <- core <- {storage, protocols, admin} <- server; no cycles.
const layer = (name) => `^src/${name}/`;
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    { name: 'lib-imports-nothing-internal', severity: 'error',
      from: { path: layer('lib') }, to: { path: '^src/(?!lib/)' } },
    { name: 'platform-imports-only-lib', severity: 'error',
      from: { path: layer('platform') }, to: { path: '^src/(?!lib/|platform/)' } },
    { name: 'core-is-protocol-and-storage-neutral', severity: 'error',
      from: { path: layer('core') }, to: { path: '^src/(?!lib/|platform/|core/)' } },
    { name: 'storage-below-protocols', severity: 'error',
      from: { path: layer('storage') }, to: { path: '^src/(?!lib/|platform/|core/|storage/)' } },
    { name: 'protocols-do-not-touch-storage-or-server', severity: 'error',
      from: { path: layer('protocols') }, to: { path: '^src/(storage|server|admin|cli)/' } },
    { name: 'protocols-do-not-import-each-other', severity: 'error',
      from: { path: '^src/protocols/([^/]+)/' }, to: { path: '^src/protocols/(?!$1/|shared/)' } },
    // The native codec is shared with the client: it knows frames and the message
    // envelope (pure codecs in core/message), never the broker.
    { name: 'native-codec-knows-no-broker', severity: 'error',
      from: { path: '^src/protocols/native/codec/' },
      to: { path: '^src/(?!lib/|core/message/|core/routing/header-value|protocols/native/codec/)' } },
    { name: 'client-imports-only-codec', severity: 'error',
      from: { path: layer('client') },
      to: { path: '^src/(?!lib/|core/message/|core/routing/header-value|protocols/native/codec/|client/)' } },
    { name: 'admin-imports-only-lib-and-core', severity: 'error',
      from: { path: layer('admin') }, to: { path: '^src/(?!lib/|core/|admin/)' } },
    // The CLI talks to a running Ferry over its APIs; only `serve` starts one (through src/server).
    { name: 'cli-imports-only-lib-server-and-client', severity: 'error',
      from: { path: layer('cli') }, to: { path: '^src/(?!lib/|server/|client/|cli/)' } },
    { name: 'core-and-storage-do-not-touch-node-io', severity: 'error',
      from: { path: '^src/(core|storage)/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|net|timers|fs/promises|dgram|child_process)$' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
