import { FerryError } from '../lib/ferry-error.js';
import type { LogStore } from '../core/ports.js';
import { StateLog, type StateLogOptions } from './state-log.js';

/** The name of the state log that holds the definitions. */
export const METADATA_LOG_NAME = '$metadata';

/** The kinds of definitions the store keeps; each is its own keyed map. */
export const METADATA_KINDS = ['vhost', 'exchange', 'queue', 'stream', 'binding', 'user', 'permission', 'policy'] as const;

/** One kind of definition. */
export type MetadataKind = (typeof METADATA_KINDS)[number];

/** A JSON document, as stored and returned (frozen). */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/*
 * Events and snapshots are UTF-8 JSON (definitions are small and rare, and
 * JSON keeps the log readable with any tool):
 *
 *   put event:    ["put", kind, key, value]
 *   delete event: ["delete", kind, key]
 *   snapshot:     {"version": 1, "kinds": {kind: [[key, value], ...], ...}}
 *
 * (pairs rather than an object, so keys keep their order: an object would
 * put integer-like keys first).
 */
const SNAPSHOT_FORMAT_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Definitions (vhosts, exchanges, queues, bindings, users, permissions,
 * policies) as one keyed map of JSON documents per kind, kept in the state
 * log `$metadata` with snapshots.
 *
 * Durability: definitions must never be lost, whatever the store's
 * durability mode, so every `put` and `delete` appends its event and then
 * calls `store.flush()` in the same synchronous step; both join one group
 * commit, so with `always` this costs no extra fsync, and with `interval` or
 * `never` it forces one. A change is visible to `get` and `list` at the call
 * (changes apply in call order, which is log order); its promise says when it
 * is durable, so confirm a declaration to a client only after it resolves.
 * If an append fails, the store stops: later calls reject with STORAGE_CLOSED.
 *
 * Values are copied and deep-frozen on `put`, so callers can neither change
 * a stored definition by accident nor read one that changed under them.
 */
export class MetadataStore {
  private readonly kinds = new Map<MetadataKind, Map<string, JsonValue>>();
  private readonly background = new Set<Promise<void>>();
  private failure: unknown = null;
  private closed = false;

  private constructor(
    private readonly store: LogStore,
    /** The state log; exposed for tests and metrics. */
    readonly stateLog: StateLog,
  ) {
    for (const kind of METADATA_KINDS) this.kinds.set(kind, new Map());
  }

  /** Opens (creating when absent) the `$metadata` log of `store` and rebuilds every definition from it. */
  static async open(store: LogStore, options: StateLogOptions = {}): Promise<MetadataStore> {
    const stateLog = await StateLog.open(store, METADATA_LOG_NAME, options);
    const { snapshot, events } = await stateLog.load();
    const metadata = new MetadataStore(store, stateLog);
    if (snapshot !== null) metadata.applySnapshot(snapshot);
    for (const event of events) metadata.applyEvent(event);
    return metadata;
  }

  /** The definition of `kind` named `key`, or undefined. */
  get(kind: MetadataKind, key: string): JsonValue | undefined {
    return this.map(kind).get(key);
  }

  /** Every definition of `kind` as [key, value], in the order they were first put. */
  list(kind: MetadataKind): Array<[key: string, value: JsonValue]> {
    return [...this.map(kind)];
  }

  /**
   * Stores `value` as the definition of `kind` named `key`, replacing any.
   * Resolves once the change is fsynced, whatever the durability mode.
   * Rejects with INVALID_ARGUMENT when `value` is not JSON.
   */
  put(kind: MetadataKind, key: string, value: JsonValue): Promise<void> {
    try {
      this.assertUsable();
      const map = this.map(kind);
      checkKey(key);
      const text = serialize(value);
      const event = encoder.encode(`["put",${JSON.stringify(kind)},${JSON.stringify(key)},${text}]`);
      map.set(key, deepFreeze(JSON.parse(text) as JsonValue));
      return this.log(event);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes the definition of `kind` named `key`. Resolves to whether it
   * existed, once the change (and everything before it) is fsynced.
   */
  delete(kind: MetadataKind, key: string): Promise<boolean> {
    try {
      this.assertUsable();
      const map = this.map(kind);
      checkKey(key);
      // A no-op still waits for earlier changes, so "already gone" is never reported before it is durable.
      if (!map.delete(key)) return this.store.flush().then(() => false);
      return this.log(encoder.encode(JSON.stringify(['delete', kind, key]))).then(() => true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves once background snapshot work is done. The LogStore stays open: it belongs to the caller. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  private log(event: Uint8Array): Promise<void> {
    const appended = this.stateLog.appendEvents([event]);
    const flushed = this.store.flush();
    // In the same synchronous step as the append, so the snapshot covers exactly the events before it.
    if (this.stateLog.shouldSnapshot()) this.track(this.stateLog.writeSnapshot(this.encodeSnapshot()));
    return Promise.all([appended, flushed]).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error;
        throw error;
      },
    );
  }

  private track(work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private assertUsable(): void {
    if (this.closed) throw new FerryError('STORAGE_CLOSED', 'the metadata store is closed');
    if (this.failure !== null) {
      const why = this.failure instanceof Error ? this.failure.message : String(this.failure);
      throw new FerryError('STORAGE_CLOSED', `the metadata store stopped after a failure: ${why}`, { cause: this.failure });
    }
  }

  private map(kind: MetadataKind): Map<string, JsonValue> {
    const map = this.kinds.get(kind);
    if (map === undefined) throw new FerryError('INVALID_ARGUMENT', `unknown metadata kind ${String(kind)}`);
    return map;
  }

  private encodeSnapshot(): Uint8Array {
    const kinds: Record<string, Array<[string, JsonValue]>> = {};
    for (const [kind, map] of this.kinds) kinds[kind] = [...map];
    return encoder.encode(JSON.stringify({ version: SNAPSHOT_FORMAT_VERSION, kinds }));
  }

  private applySnapshot(bytes: Uint8Array): void {
    const snapshot = this.parse(bytes) as { version?: unknown; kinds?: Record<string, Array<[string, JsonValue]>> } | null;
    if (snapshot?.version !== SNAPSHOT_FORMAT_VERSION) {
      throw new FerryError('UNKNOWN_FORMAT_VERSION', `state log ${METADATA_LOG_NAME}: snapshot format version ${String(snapshot?.version)}`);
    }
    for (const [kind, entries] of Object.entries(snapshot.kinds ?? {})) {
      const map = this.loadedMap(kind);
      if (!Array.isArray(entries)) this.corrupt(`the snapshot's ${kind} entries are malformed`);
      for (const [key, value] of entries) map.set(key, deepFreeze(value));
    }
  }

  private applyEvent(bytes: Uint8Array): void {
    const event = this.parse(bytes);
    if (!Array.isArray(event) || typeof event[1] !== 'string' || typeof event[2] !== 'string') this.corrupt('an event is malformed');
    const [operation, kind, key, value] = event as [string, string, string, JsonValue];
    const map = this.loadedMap(kind);
    if (operation === 'put' && event.length === 4) map.set(key, deepFreeze(value));
    else if (operation === 'delete' && event.length === 3) map.delete(key);
    else throw new FerryError('UNKNOWN_FORMAT_VERSION', `state log ${METADATA_LOG_NAME}: unknown event ${JSON.stringify(operation)}`);
  }

  /** The map of a kind read from the log; a kind this version does not know was written by a newer one. */
  private loadedMap(kind: string): Map<string, JsonValue> {
    const map = this.kinds.get(kind as MetadataKind);
    if (map === undefined) throw new FerryError('UNKNOWN_FORMAT_VERSION', `state log ${METADATA_LOG_NAME}: unknown metadata kind ${JSON.stringify(kind)}`);
    return map;
  }

  private parse(bytes: Uint8Array): unknown {
    try {
      return JSON.parse(decoder.decode(bytes)) as unknown;
    } catch (error) {
      return this.corrupt(`holds invalid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  private corrupt(what: string): never {
    throw new FerryError('CORRUPT_DATA', `state log ${METADATA_LOG_NAME}: ${what}`);
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new FerryError('INVALID_ARGUMENT', 'a metadata key is a non-empty string');
}

/** JSON text of `value`; INVALID_ARGUMENT when it has no JSON form (undefined, functions, BigInt, cycles). */
function serialize(value: JsonValue): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value) as string | undefined;
  } catch (error) {
    throw new FerryError('INVALID_ARGUMENT', `a metadata value must be JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text === undefined) throw new FerryError('INVALID_ARGUMENT', 'a metadata value must be JSON');
  return text;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
