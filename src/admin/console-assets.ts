import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { FerryError } from '../lib/ferry-error.js';

/** One file of the built web console, ready to send. */
export interface ConsoleAsset {
  /** URL path, such as `/` or `/assets/index-3f9a1c.js`. */
  readonly path: string;
  readonly body: Buffer;
  /** The body gzipped, when that makes it smaller. */
  readonly gzipped: Buffer | null;
  readonly contentType: string;
  /** Strong validator: a hash of the body, quoted. */
  readonly etag: string;
  readonly cacheControl: string;
}

/** Where `npm run build:ui` writes the console: `dist/ui`, beside the compiled `dist/src`. */
export const CONSOLE_DIRECTORY_DEFAULT = fileURLToPath(new URL('../../ui/', import.meta.url));

/** Limits on what is loaded: the console is a few small files, anything far larger is a mistake. */
const FILES_MAX = 200;
const BYTES_MAX = 16 * 1024 * 1024;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The built web console (`ui/`, built by Vite), read once at start and held
 * in memory: it is a few hundred kilobytes. Files under `assets/` carry a
 * content hash in their names, so browsers may keep them for a year;
 * `index.html` and the other files are revalidated by ETag on every load, so
 * a new build shows at once. This is the only file access of the admin
 * layer, and it happens before the listener opens.
 */
export class ConsoleAssets {
  private constructor(private readonly byPath: ReadonlyMap<string, ConsoleAsset>) {}

  /**
   * Loads every file under `directory`; null when the directory does not
   * exist or holds no `index.html` (the console was not built).
   * INVALID_ARGUMENT when it holds more than the limits allow; the file
   * system's error when a file cannot be read.
   */
  static async load(directory: string): Promise<ConsoleAssets | null> {
    const files: string[] = [];
    try {
      await collect(directory, files);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (files.length > FILES_MAX) throw new FerryError('INVALID_ARGUMENT', `console directory ${directory} holds more than ${FILES_MAX} files`);
    const byPath = new Map<string, ConsoleAsset>();
    let bytes = 0;
    for (const file of files) {
      const relativePath = relative(directory, file).split(sep).join('/');
      const contentType = CONTENT_TYPES[extname(file).toLowerCase()];
      if (contentType === undefined) continue; // Not something the console serves.
      const body = await readFile(file);
      bytes += body.byteLength;
      if (bytes > BYTES_MAX) throw new FerryError('INVALID_ARGUMENT', `console directory ${directory} holds more than ${BYTES_MAX} bytes`);
      const compressible = !contentType.startsWith('image/png') && !contentType.startsWith('font/');
      const gzipped = compressible && body.byteLength > 1024 ? gzipSync(body, { level: 9 }) : null;
      const path = relativePath === 'index.html' ? '/' : `/${relativePath}`;
      byPath.set(path, {
        path,
        body,
        gzipped: gzipped !== null && gzipped.byteLength < body.byteLength ? gzipped : null,
        contentType,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        cacheControl: relativePath.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
    if (!byPath.has('/')) return null;
    return new ConsoleAssets(byPath);
  }

  /** Every file, `/` (index.html) first. */
  list(): ConsoleAsset[] {
    return [...this.byPath.values()].sort((left, right) => (left.path === '/' ? -1 : right.path === '/' ? 1 : left.path.localeCompare(right.path)));
  }
}

async function collect(directory: string, files: string[]): Promise<void> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) await collect(path, files);
    else if (entry.isFile() || (entry.isSymbolicLink() && (await stat(path)).isFile())) files.push(path);
    if (files.length > FILES_MAX) return;
  }
}
