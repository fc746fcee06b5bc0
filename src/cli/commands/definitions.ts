import { readFile, writeFile } from 'node:fs/promises';
import { FerryError } from '../../lib/ferry-error.js';
import type { CommandContext } from '../command.js';
import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import type { ManagementClient } from '../management-client.js';
import { JSON_FLAG, SERVER_FLAGS, managementClientOf } from '../management-flags.js';

/** Largest definitions document read (the API's request limit is 64 MiB by default). */
const DOCUMENT_BYTES_MAX = 64 * 1024 * 1024;

/** `ferry definitions export|import`: the topology as one JSON document (`GET` / `POST /api/definitions`). */
export const definitionsCommand = defineCommand({
  name: 'definitions',
  synopsis: 'export [FILE] | import FILE|- [flags]',
  description: `export writes the whole topology (vhosts, users with password hashes,
permissions, exchanges, queues and bindings) as one JSON document to FILE, or
to standard output without FILE. import reads such a document from FILE (or
standard input for -) and declares what it describes, as a client's declare
would: what exists with the same settings stays, a conflict fails the import
(exit 1, the message names the entry). Both need an administrator. The same document can be loaded at
start with "ferry serve --definitions FILE".`,
  flags: { ...SERVER_FLAGS, json: { ...JSON_FLAG, description: 'import: print the counts of what was imported as JSON' } },
  positionals: { min: 1, max: 2 },
  examples: ['ferry definitions export > ferry.json', 'ferry definitions import ferry.json --url http://127.0.0.1:25672'],
  async run(parsed, context) {
    const [action, file] = parsed.positionals;
    const client = managementClientOf(parsed);
    if (action === 'export') return exportTo(client, file, context);
    if (action === 'import') {
      if (file === undefined) throw new FerryError('INVALID_USAGE', 'import needs a FILE (or - for standard input)');
      return importFrom(client, file, parsed.boolean('json'), context);
    }
    throw new FerryError('INVALID_USAGE', `unknown action ${JSON.stringify(action)}: say export or import`);
  },
});

async function exportTo(client: ManagementClient, file: string | undefined, context: CommandContext): Promise<number> {
  const text = `${JSON.stringify(await client.exportDefinitions(), null, 2)}\n`;
  if (file === undefined || file === '-') {
    context.streams.stdout(text);
  } else {
    await writeFile(file, text).catch((error: unknown) => {
      throw new FerryError('IO_ERROR', `cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
    context.streams.stderr(`ferry: definitions written to ${file}\n`);
  }
  return EXIT_CODES.success;
}

async function importFrom(client: ManagementClient, file: string, json: boolean, context: CommandContext): Promise<number> {
  let text: string;
  if (file === '-') {
    text = (await context.readStdin(DOCUMENT_BYTES_MAX)).toString('utf8');
  } else {
    text = await readFile(file, 'utf8').catch((error: unknown) => {
      const code = (error as { code?: unknown }).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'IO_ERROR';
      throw new FerryError(code, `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // The server would say the same; saying it here names the file.
    throw new FerryError('INVALID_DEFINITIONS', `${file === '-' ? 'standard input' : file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const imported = await client.importDefinitions(document);
  if (json) {
    context.streams.stdout(`${JSON.stringify({ imported })}\n`);
  } else {
    context.streams.stdout(`imported: ${Object.entries(imported).map(([kind, count]) => `${kind} ${count}`).join(', ')}\n`);
  }
  return EXIT_CODES.success;
}
