import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isFerryError } from '../lib/ferry-error.js';
import { joinPath, type FileHandle, type FileSystem } from './file-system.js';
import { NodeFileSystem } from './node-file-system.js';
import { SeededRandom } from './random.js';
import { SimulatedFileSystem } from './simulated-file-system.js';

/** One file system under test: `root` is an empty directory in it, removed by `dispose`. */
interface FileSystemFixture {
  readonly fileSystem: FileSystem;
  readonly root: string;
  dispose(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);
const text = (data: Uint8Array): string => decoder.decode(data);

/** Asserts that `promise` rejects with a FerryError carrying `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isFerryError(error, code), `expected ${code}, got ${String(error)}`);
    return true;
  });
}

async function writeText(fileSystem: FileSystem, path: string, content: string): Promise<void> {
  const handle = await fileSystem.open(path, { write: true, create: true });
  await handle.truncate(0);
  await handle.write([bytes(content)], 0);
  await handle.sync();
  await handle.close();
}

async function readAll(handle: FileHandle): Promise<Uint8Array> {
  const target = new Uint8Array(await handle.size());
  const count = await handle.read(target, 0, target.byteLength, 0);
  assert.equal(count, target.byteLength);
  return target;
}

/** The contract every FileSystem implementation must meet. */
function describeFileSystem(name: string, factory: () => Promise<FileSystemFixture>): void {
  describe(`FileSystem contract: ${name}`, () => {
    let fixture: FileSystemFixture;
    let fileSystem: FileSystem;
    let path: (...segments: string[]) => string;

    beforeEach(async () => {
      fixture = await factory();
      fileSystem = fixture.fileSystem;
      path = (...segments) => joinPath(fixture.root, ...segments);
    });
    afterEach(async () => {
      await fixture.dispose();
    });

    test('mkdir creates nested directories that readdir and exists see', async () => {
      await fileSystem.mkdir(path('a', 'b', 'c'));
      await fileSystem.mkdir(path('a', 'b', 'c')); // Again: no error when it exists.
      await fileSystem.mkdir(path('a', 'd'));
      assert.deepEqual((await fileSystem.readdir(path('a'))).sort(), ['b', 'd']);
      assert.deepEqual(await fileSystem.readdir(path('a', 'b', 'c')), []);
      assert.equal(await fileSystem.exists(path('a', 'b', 'c')), true);
      assert.equal(await fileSystem.exists(path('a', 'x')), false);
    });

    test('readdir of a missing directory fails with FILE_NOT_FOUND', async () => {
      await rejectsWith(fileSystem.readdir(path('missing')), 'FILE_NOT_FOUND');
    });

    test('mkdir over an existing file fails with FILE_EXISTS', async () => {
      await writeText(fileSystem, path('file'), 'x');
      await rejectsWith(fileSystem.mkdir(path('file')), 'FILE_EXISTS');
    });

    test('a path through a file fails with IO_ERROR', async () => {
      await writeText(fileSystem, path('file'), 'x');
      await rejectsWith(fileSystem.open(path('file', 'inner'), { write: true, create: true }), 'IO_ERROR');
      await rejectsWith(fileSystem.readdir(path('file')), 'IO_ERROR');
      assert.equal(await fileSystem.exists(path('file', 'inner')), false);
    });

    test('open without create of a missing file fails with FILE_NOT_FOUND', async () => {
      await rejectsWith(fileSystem.open(path('missing'), { write: false }), 'FILE_NOT_FOUND');
      await rejectsWith(fileSystem.open(path('missing'), { write: true }), 'FILE_NOT_FOUND');
      assert.equal(await fileSystem.exists(path('missing')), false);
    });

    test('open with create in a missing directory fails with FILE_NOT_FOUND', async () => {
      await rejectsWith(fileSystem.open(path('no-dir', 'file'), { write: true, create: true }), 'FILE_NOT_FOUND');
    });

    test('exclusive create of an existing file fails with FILE_EXISTS and keeps its content', async () => {
      await writeText(fileSystem, path('file'), 'kept');
      await rejectsWith(fileSystem.open(path('file'), { write: true, create: true, exclusive: true }), 'FILE_EXISTS');
      assert.equal(text(await fileSystem.readFile(path('file'))), 'kept');
    });

    test('create without exclusive opens an existing file without truncating it', async () => {
      await writeText(fileSystem, path('file'), 'kept');
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      assert.equal(await handle.size(), 4);
      await handle.close();
    });

    test('exclusive create makes an empty file', async () => {
      const handle = await fileSystem.open(path('new'), { write: true, create: true, exclusive: true });
      assert.equal(await handle.size(), 0);
      await handle.close();
      assert.equal(await fileSystem.exists(path('new')), true);
      assert.deepEqual(await fileSystem.readdir(fixture.root), ['new']);
    });

    test('a handle opened without write rejects writes and truncates with IO_ERROR', async () => {
      await writeText(fileSystem, path('file'), 'abc');
      const handle = await fileSystem.open(path('file'), { write: false });
      await rejectsWith(handle.write([bytes('x')], 0), 'IO_ERROR');
      await rejectsWith(handle.truncate(0), 'IO_ERROR');
      assert.equal(text(await readAll(handle)), 'abc');
      await handle.close();
    });

    test('write of several buffers lands them one after another at the position', async () => {
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.write([bytes('hello'), new Uint8Array(0), bytes(', '), bytes('world')], 0);
      assert.equal(await handle.size(), 12);
      await handle.write([bytes('W'), bytes('O')], 7);
      assert.equal(text(await readAll(handle)), 'hello, WOrld');
      await handle.close();
    });

    test('a write past the end leaves a zero-filled gap', async () => {
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.write([bytes('ab')], 0);
      await handle.write([bytes('cd')], 6);
      assert.deepEqual([...(await readAll(handle))], [97, 98, 0, 0, 0, 0, 99, 100]);
      await handle.close();
    });

    test('reads past the end return a short count, then 0', async () => {
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.write([bytes('0123456789')], 0);
      const target = new Uint8Array(8).fill(0xff);
      assert.equal(await handle.read(target, 2, 6, 7), 3);
      assert.deepEqual([...target], [0xff, 0xff, 55, 56, 57, 0xff, 0xff, 0xff]);
      assert.equal(await handle.read(target, 0, 8, 10), 0);
      assert.equal(await handle.read(target, 0, 8, 100), 0);
      await handle.close();
    });

    test('truncate shrinks, and extends with zeros', async () => {
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.write([bytes('abcdef')], 0);
      await handle.truncate(3);
      assert.equal(await handle.size(), 3);
      assert.equal(text(await readAll(handle)), 'abc');
      await handle.truncate(5);
      assert.deepEqual([...(await readAll(handle))], [97, 98, 99, 0, 0]);
      await handle.sync();
      await handle.close();
      assert.deepEqual([...(await fileSystem.readFile(path('file')))], [97, 98, 99, 0, 0]);
    });

    test('rename replaces the target atomically and removes the source', async () => {
      await writeText(fileSystem, path('source'), 'new');
      await writeText(fileSystem, path('target'), 'old content');
      await fileSystem.rename(path('source'), path('target'));
      await fileSystem.syncDirectory(fixture.root);
      assert.equal(text(await fileSystem.readFile(path('target'))), 'new');
      assert.equal(await fileSystem.exists(path('source')), false);
      assert.deepEqual(await fileSystem.readdir(fixture.root), ['target']);
    });

    test('rename moves a file between directories and an open handle follows it', async () => {
      await fileSystem.mkdir(path('one'));
      await fileSystem.mkdir(path('two'));
      const handle = await fileSystem.open(path('one', 'file'), { write: true, create: true });
      await handle.write([bytes('moved')], 0);
      await fileSystem.rename(path('one', 'file'), path('two', 'file'));
      await handle.write([bytes('!')], 5);
      await handle.close();
      assert.equal(text(await fileSystem.readFile(path('two', 'file'))), 'moved!');
      assert.deepEqual(await fileSystem.readdir(path('one')), []);
    });

    test('rename of a missing source fails with FILE_NOT_FOUND', async () => {
      await rejectsWith(fileSystem.rename(path('missing'), path('target')), 'FILE_NOT_FOUND');
    });

    test('unlink removes a file, and of a missing file is not an error', async () => {
      await writeText(fileSystem, path('file'), 'x');
      await fileSystem.unlink(path('file'));
      assert.equal(await fileSystem.exists(path('file')), false);
      await fileSystem.unlink(path('file'));
      await fileSystem.unlink(path('no-dir', 'file'));
      assert.deepEqual(await fileSystem.readdir(fixture.root), []);
    });

    test('removeTree removes a directory with everything below it, and of a missing one is not an error', async () => {
      await fileSystem.mkdir(path('tree', 'a', 'b'));
      await writeText(fileSystem, path('tree', 'a', 'b', 'file'), 'x');
      await writeText(fileSystem, path('tree', 'top'), 'y');
      await writeText(fileSystem, path('kept'), 'z');
      await fileSystem.removeTree(path('tree'));
      assert.equal(await fileSystem.exists(path('tree')), false);
      assert.equal(await fileSystem.exists(path('tree', 'a', 'b', 'file')), false);
      await fileSystem.removeTree(path('tree'));
      assert.deepEqual(await fileSystem.readdir(fixture.root), ['kept']);
    });

    test('readFile returns the whole file, and fails with FILE_NOT_FOUND when missing', async () => {
      const content = new Uint8Array(100_000).map((_, index) => index % 251);
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.write([content.subarray(0, 40_000), content.subarray(40_000)], 0);
      await handle.close();
      assert.deepEqual(await fileSystem.readFile(path('file')), content);
      await rejectsWith(fileSystem.readFile(path('missing')), 'FILE_NOT_FOUND');
    });

    test('syncDirectory succeeds on a directory and fails with FILE_NOT_FOUND when missing', async () => {
      await fileSystem.mkdir(path('dir'));
      await fileSystem.syncDirectory(path('dir'));
      await rejectsWith(fileSystem.syncDirectory(path('missing')), 'FILE_NOT_FOUND');
    });

    test('a closed handle rejects operations with IO_ERROR, and closing twice is fine', async () => {
      const handle = await fileSystem.open(path('file'), { write: true, create: true });
      await handle.close();
      await handle.close();
      await rejectsWith(handle.write([bytes('x')], 0), 'IO_ERROR');
      await rejectsWith(handle.read(new Uint8Array(1), 0, 1, 0), 'IO_ERROR');
      await rejectsWith(handle.size(), 'IO_ERROR');
    });

    test('lock is exclusive until released', async () => {
      const lock = await fileSystem.lock(path('lock'));
      await rejectsWith(fileSystem.lock(path('lock')), 'DATA_DIR_LOCKED');
      const other = await fileSystem.lock(path('other-lock')); // Another path is another lock.
      await lock.release();
      const again = await fileSystem.lock(path('lock'));
      await again.release();
      await other.release();
      await lock.release(); // A second release does nothing.
      assert.equal(await fileSystem.exists(path('lock')), false);
    });

    test('lock in a missing directory fails with FILE_NOT_FOUND', async () => {
      await rejectsWith(fileSystem.lock(path('no-dir', 'lock')), 'FILE_NOT_FOUND');
    });
  });
}

describeFileSystem('node', async () => {
  const root = mkdtempSync(joinPath(tmpdir(), 'ferry-file-system-'));
  return {
    fileSystem: new NodeFileSystem(),
    root,
    dispose: async () => rmSync(root, { recursive: true, force: true }),
  };
});

describeFileSystem('simulated', async () => {
  const fileSystem = new SimulatedFileSystem();
  await fileSystem.mkdir('test-root');
  return { fileSystem, root: 'test-root', dispose: async () => undefined };
});

describe('NodeFileSystem lock', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(joinPath(tmpdir(), 'ferry-file-system-lock-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  test('a lock file naming a dead pid is taken over', async () => {
    const lockPath = joinPath(root, 'lock');
    writeFileSync(lockPath, '2147483646\n');
    const lock = await new NodeFileSystem().lock(lockPath);
    assert.equal(readFileSync(lockPath, 'utf8').trim(), String(process.pid));
    await lock.release();
    assert.throws(() => readFileSync(lockPath), { code: 'ENOENT' });
  });

  test('a lock file naming another live process fails with DATA_DIR_LOCKED', async () => {
    const lockPath = joinPath(root, 'lock');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      assert.ok(child.pid !== undefined, 'the child process started');
      writeFileSync(lockPath, `${child.pid}\n`);
      await rejectsWith(new NodeFileSystem().lock(lockPath), 'DATA_DIR_LOCKED');
      assert.equal(readFileSync(lockPath, 'utf8').trim(), String(child.pid), 'the live owner keeps its lock file');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // Its owner is dead now, so the same lock file is stale.
    const lock = await new NodeFileSystem().lock(lockPath);
    await lock.release();
  });
});

describe('SimulatedFileSystem crash semantics', () => {
  /** A file system with directory 'data' (durable, as mkdir is by default) holding `name` with synced `content`. */
  async function withSyncedFile(name: string, content: string): Promise<SimulatedFileSystem> {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    await writeText(fileSystem, `data/${name}`, content);
    await fileSystem.syncDirectory('data');
    return fileSystem;
  }

  test('synced data survives a crash', async () => {
    const fileSystem = await withSyncedFile('file', 'durable');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/file')), 'durable');
  });

  test('unsynced data is lost on a crash', async () => {
    const fileSystem = await withSyncedFile('file', 'durable');
    const handle = await fileSystem.open('data/file', { write: true });
    await handle.write([bytes(' and more')], 7);
    await handle.write([bytes('D')], 0);
    await handle.truncate(3);
    assert.equal(text(await fileSystem.readFile('data/file')), 'Dur');
    fileSystem.crash(new SeededRandom(1), { tornWrites: false });
    assert.equal(text(await fileSystem.readFile('data/file')), 'durable');
  });

  test('an unsynced truncate is undone by a crash', async () => {
    const fileSystem = await withSyncedFile('file', 'durable');
    const handle = await fileSystem.open('data/file', { write: true });
    await handle.truncate(2);
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/file')), 'durable');
  });

  test('a torn write leaves the durable content plus a prefix of the last write', async () => {
    const durable = 'durable-';
    const last = 'the-last-write-of-thirty-bytes';
    const keptLengths = new Set<number>();
    for (let seed = 0; seed < 64; seed++) {
      const fileSystem = await withSyncedFile('file', durable);
      const handle = await fileSystem.open('data/file', { write: true });
      await handle.write([bytes(last.slice(0, 10)), bytes(last.slice(10))], durable.length);
      fileSystem.crash(new SeededRandom(seed));
      const recovered = text(await fileSystem.readFile('data/file'));
      assert.ok(recovered.startsWith(durable), `seed ${seed}: ${recovered}`);
      const kept = recovered.slice(durable.length);
      assert.ok(last.startsWith(kept), `seed ${seed}: ${JSON.stringify(kept)} is a prefix of the last write`);
      keptLengths.add(kept.length);
    }
    // The prefix really varies across seeds, and is sometimes a strict part of the write.
    assert.ok(keptLengths.size > 10, `kept lengths ${[...keptLengths]}`);
    assert.ok([...keptLengths].some((length) => length > 0 && length < last.length), `kept lengths ${[...keptLengths]}`);
  });

  test('a torn overwrite keeps durable bytes around a prefix of the last write', async () => {
    for (let seed = 0; seed < 32; seed++) {
      const fileSystem = await withSyncedFile('file', 'aaaaaaaaaa');
      const handle = await fileSystem.open('data/file', { write: true });
      await handle.write([bytes('xx')], 0); // Not the last write: lost.
      await handle.write([bytes('bbbb')], 3);
      fileSystem.crash(new SeededRandom(seed));
      const recovered = text(await fileSystem.readFile('data/file'));
      const keptLength = /^aaa(b*)/.exec(recovered)?.[1]?.length ?? -1;
      assert.ok(keptLength >= 0 && keptLength <= 4, `seed ${seed}: ${recovered}`);
      assert.equal(recovered, 'aaa' + 'b'.repeat(keptLength) + 'a'.repeat(7 - keptLength), `seed ${seed}`);
    }
  });

  test('a torn write replays identically with the same seed', async () => {
    const outcomes: string[] = [];
    for (let run = 0; run < 2; run++) {
      const fileSystem = await withSyncedFile('file', '');
      const handle = await fileSystem.open('data/file', { write: true });
      await handle.write([bytes('0123456789abcdefghij')], 0);
      fileSystem.crash(new SeededRandom(42));
      outcomes.push(text(await fileSystem.readFile('data/file')));
    }
    assert.equal(outcomes[0], outcomes[1]);
  });

  test('a sync after a shrink and regrow makes the zeros durable, not the old bytes', async () => {
    const fileSystem = await withSyncedFile('file', 'abcdefgh');
    const handle = await fileSystem.open('data/file', { write: true });
    await handle.truncate(2);
    await handle.write([bytes('X')], 4); // Regrows over old bytes, leaving a gap.
    await handle.truncate(7);
    await handle.sync();
    fileSystem.crash(new SeededRandom(1));
    assert.deepEqual([...(await fileSystem.readFile('data/file'))], [97, 98, 0, 0, 88, 0, 0]);
  });

  test('a truncate after the last write limits what a torn write can leave', async () => {
    for (let seed = 0; seed < 32; seed++) {
      const fileSystem = await withSyncedFile('file', '');
      const handle = await fileSystem.open('data/file', { write: true });
      await handle.write([bytes('abcdef')], 0);
      await handle.truncate(2);
      fileSystem.crash(new SeededRandom(seed));
      const recovered = text(await fileSystem.readFile('data/file'));
      assert.ok(['', 'a', 'ab'].includes(recovered), `seed ${seed}: ${recovered}`);
    }
  });

  test('a write followed by sync is never torn', async () => {
    for (let seed = 0; seed < 16; seed++) {
      const fileSystem = await withSyncedFile('file', 'start');
      const handle = await fileSystem.open('data/file', { write: true });
      await handle.write([bytes('-end')], 5);
      await handle.sync();
      fileSystem.crash(new SeededRandom(seed));
      assert.equal(text(await fileSystem.readFile('data/file')), 'start-end');
    }
  });

  test('what a crash leaves is durable through the next crash', async () => {
    const fileSystem = await withSyncedFile('file', '');
    const handle = await fileSystem.open('data/file', { write: true });
    await handle.write([bytes('0123456789abcdefghij')], 0);
    fileSystem.crash(new SeededRandom(7));
    const afterFirst = text(await fileSystem.readFile('data/file'));
    fileSystem.crash(new SeededRandom(8));
    assert.equal(text(await fileSystem.readFile('data/file')), afterFirst);
  });

  test('a file created in a directory never synced is gone after a crash', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    await writeText(fileSystem, 'data/unsynced-entry', 'synced content');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(await fileSystem.exists('data/unsynced-entry'), false);
    assert.deepEqual(await fileSystem.readdir('data'), []);
  });

  test('a file whose directory was synced after creation survives with its synced content', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    const handle = await fileSystem.open('data/file', { write: true, create: true, exclusive: true });
    await fileSystem.syncDirectory('data');
    await handle.write([bytes('synced')], 0);
    await handle.sync();
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/file')), 'synced');
  });

  test('a rename not followed by a directory sync is undone by a crash', async () => {
    const fileSystem = await withSyncedFile('target', 'old');
    await writeText(fileSystem, 'data/source', 'new');
    await fileSystem.syncDirectory('data');
    await fileSystem.rename('data/source', 'data/target');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/target')), 'old');
    assert.equal(text(await fileSystem.readFile('data/source')), 'new');
  });

  test('a rename followed by a directory sync survives a crash', async () => {
    const fileSystem = await withSyncedFile('target', 'old');
    await writeText(fileSystem, 'data/source', 'new');
    await fileSystem.rename('data/source', 'data/target');
    await fileSystem.syncDirectory('data');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/target')), 'new');
    assert.deepEqual(await fileSystem.readdir('data'), ['target']);
  });

  test('a rename across directories synced only at the target leaves two independent copies', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('one');
    await fileSystem.mkdir('two');
    await writeText(fileSystem, 'one/file', 'content');
    await fileSystem.syncDirectory('one');
    await fileSystem.rename('one/file', 'two/file');
    await fileSystem.syncDirectory('two');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('one/file')), 'content');
    assert.equal(text(await fileSystem.readFile('two/file')), 'content');
    const handle = await fileSystem.open('two/file', { write: true });
    await handle.write([bytes('C')], 0);
    assert.equal(text(await fileSystem.readFile('one/file')), 'content', 'the copies share no bytes');
  });

  test('a directory cycle made of unsynced moves is broken on crash', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('x/y');
    await fileSystem.rename('x/y', 'y');
    await fileSystem.syncDirectory('');
    await fileSystem.rename('x', 'y/x');
    await fileSystem.syncDirectory('y');
    // Durable entries now say root -> x -> y -> x: a cycle no real file system shows.
    // The walk goes root, x, y, meets x again inside itself and drops that entry.
    fileSystem.crash(new SeededRandom(1));
    assert.deepEqual(await fileSystem.readdir(''), ['x', 'y']);
    assert.deepEqual(await fileSystem.readdir('x'), ['y']);
    assert.deepEqual(await fileSystem.readdir('x/y'), []);
    assert.deepEqual(await fileSystem.readdir('y'), []);
  });

  test('an unsynced unlink is undone by a crash, a synced one is not', async () => {
    const fileSystem = await withSyncedFile('file', 'content');
    await fileSystem.unlink('data/file');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/file')), 'content');
    await fileSystem.unlink('data/file');
    await fileSystem.syncDirectory('data');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(await fileSystem.exists('data/file'), false);
  });

  test('an unsynced removeTree is undone by a crash, a synced one is not', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data/log');
    await writeText(fileSystem, 'data/log/segment', 'records');
    await fileSystem.syncDirectory('data/log');
    await fileSystem.removeTree('data/log');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(text(await fileSystem.readFile('data/log/segment')), 'records');
    await fileSystem.removeTree('data/log');
    await fileSystem.syncDirectory('data');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(await fileSystem.exists('data/log'), false);
  });

  test('mkdir makes directories durable at once by default', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data/streams/orders');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(await fileSystem.exists('data/streams/orders'), true);
  });

  test("with mkdirDurability 'on-parent-sync' a directory needs its parent synced", async () => {
    const fileSystem = new SimulatedFileSystem({ mkdirDurability: 'on-parent-sync' });
    await fileSystem.mkdir('data/streams');
    await fileSystem.syncDirectory('');
    await fileSystem.mkdir('data/queues');
    fileSystem.crash(new SeededRandom(1));
    assert.equal(await fileSystem.exists('data'), true);
    assert.equal(await fileSystem.exists('data/streams'), false, 'data was never synced');
    assert.equal(await fileSystem.exists('data/queues'), false);
  });

  test('crashAfterKill keeps unsynced data and entries but kills handles and locks', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    await fileSystem.lock('data/lock');
    const handle = await fileSystem.open('data/file', { write: true, create: true });
    await handle.write([bytes('never synced')], 0);
    fileSystem.crashAfterKill();
    assert.equal(text(await fileSystem.readFile('data/file')), 'never synced');
    await rejectsWith(handle.write([bytes('x')], 0), 'IO_ERROR');
    const lock = await fileSystem.lock('data/lock');
    await lock.release();
    // The page cache still holds unsynced bytes: a power loss now loses them.
    fileSystem.crash(new SeededRandom(1), { tornWrites: false });
    assert.equal(await fileSystem.exists('data/file'), false);
  });

  test('handles from before a crash reject with IO_ERROR and new opens see the recovered state', async () => {
    const fileSystem = await withSyncedFile('file', 'durable');
    const handle = await fileSystem.open('data/file', { write: true });
    fileSystem.crash(new SeededRandom(1));
    await rejectsWith(handle.read(new Uint8Array(1), 0, 1, 0), 'IO_ERROR');
    await rejectsWith(handle.write([bytes('x')], 0), 'IO_ERROR');
    await rejectsWith(handle.sync(), 'IO_ERROR');
    await rejectsWith(handle.size(), 'IO_ERROR');
    await rejectsWith(handle.truncate(0), 'IO_ERROR');
    await handle.close(); // Cleanup of a dead handle succeeds.
    const reopened = await fileSystem.open('data/file', { write: true });
    await reopened.write([bytes('D')], 0);
    assert.equal(text(await readAll(reopened)), 'Durable');
  });

  test('a crash releases locks, and a release from before the crash does not free the new holder', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    const before = await fileSystem.lock('data/lock');
    fileSystem.crash(new SeededRandom(1));
    const after = await fileSystem.lock('data/lock');
    await before.release();
    await rejectsWith(fileSystem.lock('data/lock'), 'DATA_DIR_LOCKED');
    await after.release();
  });
});

describe('SimulatedFileSystem fault injection', () => {
  test('a full disk fails writes and extending truncates with DISK_FULL and writes nothing', async () => {
    const fileSystem = new SimulatedFileSystem();
    const handle = await fileSystem.open('file', { write: true, create: true });
    await handle.write([bytes('abc')], 0);
    fileSystem.setDiskFull(true);
    await rejectsWith(handle.write([bytes('d'), bytes('e')], 3), 'DISK_FULL');
    await rejectsWith(handle.write([bytes('X')], 0), 'DISK_FULL');
    await rejectsWith(handle.truncate(10), 'DISK_FULL');
    assert.equal(await handle.size(), 3);
    assert.equal(text(await readAll(handle)), 'abc');
    await handle.truncate(1); // Shrinking frees space, so it works.
    assert.equal(await handle.size(), 1);
    fileSystem.setDiskFull(false);
    await handle.write([bytes('bc')], 1);
    assert.equal(text(await readAll(handle)), 'abc');
  });

  test('a read-only prefix rejects writes, creates and unlinks with READ_ONLY and changes nothing', async () => {
    const fileSystem = new SimulatedFileSystem();
    await fileSystem.mkdir('data');
    await fileSystem.mkdir('database');
    await writeText(fileSystem, 'data/file', 'abc');
    const handle = await fileSystem.open('data/file', { write: true });
    fileSystem.setReadOnly('data', true);
    await rejectsWith(handle.write([bytes('x')], 0), 'READ_ONLY');
    await rejectsWith(handle.truncate(0), 'READ_ONLY');
    await rejectsWith(fileSystem.open('data/file', { write: true }), 'READ_ONLY');
    await rejectsWith(fileSystem.open('data/new', { write: true, create: true }), 'READ_ONLY');
    await rejectsWith(fileSystem.unlink('data/file'), 'READ_ONLY');
    await rejectsWith(fileSystem.rename('data/file', 'data/renamed'), 'READ_ONLY');
    await rejectsWith(fileSystem.removeTree('data'), 'READ_ONLY');
    await rejectsWith(fileSystem.mkdir('data/sub'), 'READ_ONLY');
    assert.equal(text(await fileSystem.readFile('data/file')), 'abc', 'reads still work');
    assert.deepEqual(await fileSystem.readdir('data'), ['file']);
    const reader = await fileSystem.open('data/file', { write: false });
    assert.equal(text(await readAll(reader)), 'abc');
    // Prefixes match whole segments: 'database' is not under 'data'.
    await writeText(fileSystem, 'database/file', 'writable');
    fileSystem.setReadOnly('data', false);
    await handle.write([bytes('A')], 0);
    assert.equal(text(await fileSystem.readFile('data/file')), 'Abc');
  });

  test('syncCount and writeCount count calls, not bytes', async () => {
    const fileSystem = new SimulatedFileSystem();
    const handle = await fileSystem.open('file', { write: true, create: true });
    await handle.write([bytes('a'), bytes('b'), bytes('c')], 0);
    await handle.write([bytes('d')], 3);
    await handle.sync();
    fileSystem.setDiskFull(true);
    await rejectsWith(handle.write([bytes('e')], 4), 'DISK_FULL');
    await fileSystem.syncDirectory('');
    assert.equal(fileSystem.writeCount, 2, 'the failed write is not counted');
    assert.equal(fileSystem.syncCount, 1);
    assert.equal(fileSystem.directorySyncCount, 1);
  });
});

describe('SimulatedFileSystem performance', () => {
  test('two hundred thousand small appends with periodic syncs stay fast and exact', async () => {
    const fileSystem = new SimulatedFileSystem();
    const handle = await fileSystem.open('log', { write: true, create: true });
    await fileSystem.syncDirectory('');
    const record = new Uint8Array(24);
    const appendCount = 200_000;
    for (let index = 0; index < appendCount; index++) {
      record.fill(index % 256);
      await handle.write([record.subarray(0, 8), record.subarray(8)], index * record.byteLength);
      if (index % 100 === 99) await handle.sync();
    }
    assert.equal(await handle.size(), appendCount * record.byteLength);
    fileSystem.crash(new SeededRandom(3), { tornWrites: false });
    const content = await fileSystem.readFile('log');
    assert.equal(content.byteLength, appendCount * record.byteLength);
    assert.equal(content[(appendCount - 1) * record.byteLength], (appendCount - 1) % 256);
    assert.equal(fileSystem.syncCount, appendCount / 100);
  });
});
