import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Builds the web console into dist/ui, where the admin server serves it at `/`.
 * Everything is bundled (no CDN, no web fonts): the page must work without a network.
 * `npm run dev:ui` serves it with hot reload and forwards /api to a running broker
 * (FERRY_URL, default http://127.0.0.1:15672).
 */
export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  // JSX for Preact without a plugin: the automatic runtime imports from preact/jsx-runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // The console is small; one warning threshold that catches an accidental heavy import.
    chunkSizeWarningLimit: 200,
  },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': process.env['FERRY_URL'] ?? 'http://127.0.0.1:15672' },
  },
});
