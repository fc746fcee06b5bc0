import { isFerryError } from '../../src/lib/ferry-error.js';
import type { Delivery } from '../../src/core/queue/delivery.js';
import type { TransactionOutcome } from '../../src/core/transaction/transaction.js';
import type { BrokerTransaction } from '../../src/server/broker.js';
import { GroupMembership, type ModelMember } from './group-membership.js';
import type { ModelBatch, ModelRecord, StreamModel } from './stream-model.js';
import { EVENTS_PARTITIONS, EVENTS_STREAM } from './stream-workload.js';
import { describeError, type SimulationContext, type StopKind, type Tracked, type Workload } from './workload.js';

const decoder = new TextDecoder();

/** The queue transactions consume, the queue and the stream they write to. */
const INPUT_QUEUE = 'tx-in';
const OUTPUT_QUEUE = 'tx-out';
export const OUTPUT_STREAM = 'tx-log';
export const OUTPUT_STREAM_PARTITIONS = 2;
/** The consumer group whose members read the events stream in transactions (consume-transform-produce). */
const TRANSFORMERS_GROUP = 'transformers';
const OPEN_TRANSACTIONS_MAX = 2;
/** A stream nobody checks, appended to while commits run, so that journal writes split where they fall. */
const BACKGROUND_STREAM = 'background';
/** Commits are where crashes hurt most: they are cut short more often than other operations. */
const CRASH_DURING_COMMIT_PROBABILITY = 0.15;

/** A message of the input queue. */
interface InputMessage {
  readonly id: string;
  confirmed: boolean;
  /** The applied transaction that acked it: it must never be delivered again. */
  consumedBy: ModelTransaction | undefined;
  /** The transaction of this incarnation holding its delivery (in flight until it ends). */
  heldBy: ModelTransaction | undefined;
  delivery: Delivery | undefined;
  /** A transaction in doubt after a crash that acked it: whether it is gone tells whether that one was applied. */
  inDoubtWith: ModelTransaction | undefined;
}

/** Reading a range of an events partition as a transformers member, committing its end in the transaction. */
interface Transform {
  readonly member: ModelMember;
  readonly partition: number;
  /** The member's holding of the partition when it read: a commit under another one is stale. */
  readonly tenure: number | undefined;
  readonly from: number;
  readonly to: number;
}

/** What a transaction wrote, and which input it answers (`in:<input>` or `ev:<partition>:<offset>`). */
interface Output {
  readonly body: string;
  readonly transaction: ModelTransaction;
  readonly key: string;
  readonly target: 'queue' | 'stream';
}

interface ModelTransaction {
  readonly id: number;
  readonly handle: BrokerTransaction;
  readonly incarnation: number;
  /** Monotonic time of its broker's clock when it began, for the timeout. */
  readonly beganAtMs: number;
  readonly timeoutMs: number;
  /**
   * `open` (accepting operations), `committing` (commit sent), `committed` (commit resolved),
   * `aborted` (by the client, its timeout or the end of its broker), `refused` (commit rejected),
   * `in-doubt` (its broker crashed during the commit, without a reply).
   */
  state: 'open' | 'committing' | 'committed' | 'aborted' | 'refused' | 'in-doubt';
  readonly inputs: InputMessage[];
  readonly outputs: Output[];
  /** Stream appends, registered with the stream models at commit. */
  readonly appends: Array<{ readonly model: StreamModel; readonly partition: number; readonly body: string }>;
  /** Its stream batches, registered at commit (or, never committed, when it ended). */
  readonly batches: Array<{ readonly model: StreamModel; readonly batch: ModelBatch }>;
  transform: Transform | undefined;
  commitReply: Tracked<TransactionOutcome> | undefined;
  /** Whether its effects are there, once known, and what showed it. */
  applied: boolean | undefined;
  evidence: string;
}

/**
 * Transactions: consume-transform-produce from a queue (pull, publish the
 * result to a queue or append it to a stream, ack the input) and from the
 * events stream through a consumer group (read a range, write results,
 * commit the range's end offset), plus plain stream appends; committed or
 * aborted at random, left to time out, or cut by a crash at any point of the
 * commit. Members of the group join, leave and release partitions meanwhile.
 *
 * Every transaction ends applied or not, and the model learns which from any
 * of its effects; all the others must agree:
 * - a committed transaction (commit resolved) is applied whole, an aborted,
 *   timed-out or refused one leaves no trace (no output, inputs unacked, offset unchanged);
 * - one in doubt after a crash is applied whole or not at all;
 * - nothing is visible before the commit;
 * - exactly once: an input acked by an applied transaction has exactly one
 *   output; an unacked one none; an events offset below the group's committed
 *   offset has exactly one output, one at or above it none.
 */
export class TransactionWorkload implements Workload {
  private readonly inputs = new Map<string, InputMessage>();
  private readonly outputs = new Map<string, Output>();
  private readonly transactions = new Map<number, ModelTransaction>();
  private readonly membership: GroupMembership;
  private inputCount = 0;
  private transactionCount = 0;

  constructor(
    private readonly context: SimulationContext,
    private readonly events: StreamModel,
    private readonly outputStream: StreamModel,
  ) {
    this.membership = new GroupMembership(EVENTS_STREAM, TRANSFORMERS_GROUP, ['t1', 't2', 't3'], EVENTS_PARTITIONS, context);
    const observed = (record: ModelRecord): void => {
      if (record.origin.kind !== 'transaction') return;
      const transaction = this.transactions.get(record.origin.transaction)!;
      if (transaction.state === 'in-doubt' || transaction.state === 'committed') this.resolve(transaction, true, `its record ${record.body} is stored`);
    };
    events.onObserved = observed;
    outputStream.onObserved = observed;
  }

  async declare(): Promise<void> {
    const broker = this.context.broker();
    await broker.declareQueue(INPUT_QUEUE);
    await broker.declareQueue(OUTPUT_QUEUE);
    await broker.declareStream(OUTPUT_STREAM, { partitions: OUTPUT_STREAM_PARTITIONS });
    await broker.declareStream(BACKGROUND_STREAM);
  }

  async step(): Promise<void> {
    this.membership.heartbeat();
    await this.act();
    this.membership.checkCommitted(false);
  }

  beforeStop(_kind: StopKind): void {}

  /**
   * Open transactions died with the broker. A commit in progress resolved or
   * was refused before the crash, or is in doubt: recovery applied it whole or
   * not at all, which its effects now tell (stream records were all read again).
   */
  async afterRestart(kind: StopKind): Promise<void> {
    this.membership.reset();
    this.membership.checkCommitted(kind !== 'clean');
    const cutShort: ModelTransaction[] = [];
    for (const transaction of this.transactions.values()) {
      if (transaction.incarnation === this.context.incarnation()) continue;
      if (transaction.state === 'open') {
        this.discard(transaction, 'aborted', 'it was open when its broker stopped');
      } else if (transaction.state === 'committing') {
        cutShort.push(transaction);
        const reply = transaction.commitReply!.outcome();
        if (reply.kind === 'resolved') this.markCommitted(transaction);
        else if (reply.kind === 'rejected') this.discard(transaction, 'refused', `its commit was refused: ${describeError(reply.error)}`);
        else this.markInDoubt(transaction);
      }
    }
    // Every stream record was read again before this: the records and the offset say whether recovery applied it.
    for (const transaction of cutShort) {
      if (transaction.transform !== undefined) this.offsetEvidence(transaction);
      if (transaction.batches.length > 0) {
        const stored = transaction.batches.some(({ batch }) => batch.records.some((record) => record.observed !== undefined));
        this.resolve(transaction, stored, stored ? 'its records are stored after recovery' : 'none of its records is stored after recovery');
      }
    }
  }

  /** Ends open transactions, drains both queues and checks every transaction and exactly-once. */
  async finish(): Promise<void> {
    const broker = this.context.broker();
    for (const transaction of this.transactions.values()) if (transaction.state === 'open') await this.abort(transaction, 'aborted at the end of the run');
    // The output queue: every output of an applied transaction once, nothing else.
    const present = new Map<string, number>();
    for (let guard = 0; guard < 10_000; guard++) {
      const deliveries = await broker.get(OUTPUT_QUEUE, { max: 100, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
      if (deliveries.length === 0) break;
      for (const delivery of deliveries) {
        const body = decoder.decode(delivery.message.body);
        const output = this.outputs.get(body);
        if (output === undefined || output.target !== 'queue') this.context.fail(`${OUTPUT_QUEUE} holds ${body}, which no transaction published`);
        present.set(body, (present.get(body) ?? 0) + 1);
        if (present.get(body)! > 1) this.context.fail(`${OUTPUT_QUEUE} holds ${body} twice`);
        this.resolve(output!.transaction, true, `its output ${body} is in ${OUTPUT_QUEUE}`);
      }
      await broker.ack(deliveries);
    }
    // The input queue: what is left was not consumed.
    const left = new Set<string>();
    for (let guard = 0; guard < 10_000; guard++) {
      const deliveries = await broker.get(INPUT_QUEUE, { max: 100, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
      if (deliveries.length === 0) break;
      for (const delivery of deliveries) {
        const input = this.delivered(delivery);
        left.add(input.id);
      }
      await broker.ack(deliveries);
    }
    for (const input of this.inputs.values()) {
      if (left.has(input.id)) continue;
      if (input.inDoubtWith !== undefined) this.resolve(input.inDoubtWith, true, `its input ${input.id} is gone from ${INPUT_QUEUE}`);
      if (input.consumedBy === undefined && input.confirmed) this.context.fail(`confirmed input ${input.id} is gone from ${INPUT_QUEUE}, but no applied transaction acked it`);
    }
    for (const transaction of this.transactions.values()) {
      const queueOutputs = transaction.outputs.filter((output) => output.target === 'queue');
      if (transaction.applied === undefined && queueOutputs.length > 0) this.resolve(transaction, false, `none of its outputs is in ${OUTPUT_QUEUE}`);
      if (transaction.applied === true) {
        for (const output of queueOutputs) if (!present.has(output.body)) this.context.fail(`T${transaction.id} is applied (${transaction.evidence}), but its output ${output.body} is not in ${OUTPUT_QUEUE}`);
      }
    }
    this.checkExactlyOnce(present);
    this.membership.checkCommitted(false);
  }

  /** A feed, a membership change, or a few operations on one transaction (begun first if need be). */
  private async act(): Promise<void> {
    const { random } = this.context;
    const roll = random.next();
    if (roll < 0.08) return this.feed();
    if (roll < 0.2) {
      await this.membership.churn((member, partitions) => this.beforeRelease(member, partitions));
      return;
    }
    const open = [...this.transactions.values()].filter((transaction) => transaction.state === 'open');
    const transaction = open.length === 0 || (open.length < OPEN_TRANSACTIONS_MAX && random.next() < 0.2) ? await this.begin() : open[random.int(open.length)]!;
    // A few operations in a row, as a client does: most transactions get to their end before a restart or their timeout.
    for (let actions = 2 + random.int(4); actions > 0 && transaction.state === 'open'; actions--) {
      if (this.expired(transaction)) return this.discoverTimeout(transaction);
      const action = random.next();
      const empty = transaction.inputs.length + transaction.appends.length === 0 && transaction.transform === undefined;
      if (action < 0.3) await this.consume(transaction);
      else if (action < 0.55) await this.transform(transaction);
      else if (action < 0.65) this.appendPlain(transaction);
      else if (action < 0.9) await (empty && random.next() < 0.9 ? this.consume(transaction) : this.commit(transaction));
      else await this.abort(transaction, 'aborted by the client');
    }
  }

  /** Publishes inputs (confirmed when the publish resolves). */
  private async feed(): Promise<void> {
    for (let count = 1 + this.context.random.int(3); count > 0; count--) {
      const input: InputMessage = { id: `in-${this.inputCount++}`, confirmed: false, consumedBy: undefined, heldBy: undefined, delivery: undefined, inDoubtWith: undefined };
      this.inputs.set(input.id, input);
      await this.context.broker().publish('', { routingKey: INPUT_QUEUE, body: input.id });
      input.confirmed = true;
    }
  }

  private async begin(): Promise<ModelTransaction> {
    const timeoutMs = [10_000, 30_000, 60_000][this.context.random.int(3)]!;
    const handle = await this.context.broker().transaction({ timeoutMs });
    const transaction: ModelTransaction = {
      id: ++this.transactionCount,
      handle,
      incarnation: this.context.incarnation(),
      beganAtMs: this.context.clock().monotonicMs(),
      timeoutMs,
      state: 'open',
      inputs: [],
      outputs: [],
      appends: [],
      batches: [],
      transform: undefined,
      commitReply: undefined,
      applied: undefined,
      evidence: '',
    };
    this.transactions.set(transaction.id, transaction);
    return transaction;
  }

  /** Pulls inputs (published first when few are left); for each, writes a result and acks it, in the transaction. */
  private async consume(transaction: ModelTransaction): Promise<void> {
    const ready = [...this.inputs.values()].filter((input) => input.consumedBy === undefined && input.heldBy === undefined && input.inDoubtWith === undefined);
    if (ready.length < 2) await this.feed();
    const deliveries = await this.context.broker().get(INPUT_QUEUE, { max: 1 + this.context.random.int(2), visibilityTimeoutMs: Number.POSITIVE_INFINITY });
    for (const delivery of deliveries) {
      const input = this.delivered(delivery);
      input.heldBy = transaction;
      input.delivery = delivery;
      transaction.inputs.push(input);
      this.write(transaction, `in:${input.id}`);
      transaction.handle.ack(delivery);
    }
  }

  /** As a transformers member: reads from the committed offset of a partition it owns, writes results, commits the end offset. */
  private async transform(transaction: ModelTransaction): Promise<void> {
    if (transaction.transform !== undefined) return this.consume(transaction);
    const busy = new Set<number>();
    for (const other of this.transactions.values()) {
      if ((other.state === 'open' || other.state === 'committing') && other.transform) busy.add(other.transform.partition);
    }
    const choices = this.membership.members.flatMap((member) => [...member.owned].filter((partition) => !busy.has(partition)).map((partition) => ({ member, partition })));
    if (choices.length === 0) return this.membership.joinSomeone();
    const { member, partition } = choices[this.context.random.int(choices.length)]!;
    const from = this.membership.group().committed(partition) ?? 0;
    const entries = await this.context.broker().readStream(EVENTS_STREAM, { partition, from, max: 1 + this.context.random.int(5) });
    this.context.count('streamEntriesRead', entries.length);
    this.events.observe(partition, from, entries);
    if (entries.length === 0) return;
    for (const entry of entries) this.write(transaction, `ev:${partition}:${entry.offset}`);
    const to = from + entries.length;
    transaction.handle.commitOffset(EVENTS_STREAM, TRANSFORMERS_GROUP, member.id, partition, to);
    transaction.transform = { member, partition, tenure: member.tenure.get(partition), from, to };
  }

  /** A message appended to a stream in the transaction, answering no input. */
  private appendPlain(transaction: ModelTransaction): void {
    const toEvents = this.context.random.next() < 0.5;
    const model = toEvents ? this.events : this.outputStream;
    const partition = this.context.random.int(model.partitionCount);
    const body = `T${transaction.id}:x${transaction.appends.length}`;
    transaction.appends.push({ model, partition, body });
    transaction.handle.appendToStream(model.stream, { body }, { partition });
  }

  /** The answer to `key`: a publish to the output queue or an append to the output stream. */
  private write(transaction: ModelTransaction, key: string): void {
    const body = `T${transaction.id}:${key}`;
    const target = this.context.random.next() < 0.6 ? 'queue' : 'stream';
    const output: Output = { body, transaction, key, target };
    transaction.outputs.push(output);
    this.outputs.set(body, output);
    if (target === 'queue') {
      transaction.handle.publish('', { routingKey: OUTPUT_QUEUE, body });
    } else {
      const partition = this.context.random.int(OUTPUT_STREAM_PARTITIONS);
      transaction.appends.push({ model: this.outputStream, partition, body });
      transaction.handle.appendToStream(OUTPUT_STREAM, { body }, { partition });
    }
  }

  /**
   * Commits. Refused, as the model predicts, when the transaction timed out
   * or its transform's member no longer holds the partition. A member that
   * holds it again under a new assignment aborts instead, as a careful client
   * must (its read may be stale).
   */
  private async commit(transaction: ModelTransaction): Promise<void> {
    if (this.expired(transaction)) return this.discoverTimeout(transaction);
    const transform = transaction.transform;
    let expectedCode: string | undefined;
    if (transform !== undefined && !this.stillHolds(transform)) {
      if (this.membership.holds(transform.member, transform.partition)) return this.abort(transaction, 'its member holds the partition again under a new assignment');
      expectedCode = transform.member.joined ? 'NOT_PARTITION_OWNER' : 'UNKNOWN_MEMBER';
    }
    const at = this.context.tick();
    const byTarget = new Map<string, { model: StreamModel; partition: number; bodies: string[] }>();
    for (const append of transaction.appends) {
      const key = `${append.model.stream}/${append.partition}`;
      let target = byTarget.get(key);
      if (!target) byTarget.set(key, (target = { model: append.model, partition: append.partition, bodies: [] }));
      target.bodies.push(append.body);
    }
    for (const [key, target] of byTarget) {
      const batch = target.model.addBatch(`T${transaction.id}/${key}`, target.partition, target.bodies, () => ({ kind: 'transaction', transaction: transaction.id }), 'maybe', at);
      transaction.batches.push({ model: target.model, batch });
    }
    if (transform) this.membership.commitIssued(transform.partition, transform.to);
    transaction.state = 'committing';
    transaction.commitReply = this.context.track(transaction.handle.commit());
    const background = this.background();
    this.context.trace(`T${transaction.id} commits: ${transaction.inputs.length} input(s), ${transaction.outputs.length} output(s), ${transaction.appends.length} append(s)${transform ? `, offset ${transform.from} → ${transform.to} of partition ${transform.partition}` : ''}`);
    const crashed = await this.context.settle([transaction.commitReply], CRASH_DURING_COMMIT_PROBABILITY);
    await background;
    if (crashed) return; // afterRestart settled it.
    const reply = transaction.commitReply.outcome();
    if (reply.kind === 'resolved') {
      if (expectedCode !== undefined) this.context.fail(`T${transaction.id} committed, but its member ${transform!.member.id} no longer held partition ${transform!.partition} (expected ${expectedCode})`);
      if (reply.value.unroutable > 0 || reply.value.rejectedBy.length > 0) this.context.fail(`T${transaction.id}: ${reply.value.unroutable} unroutable, rejected by [${reply.value.rejectedBy.join()}]`);
      this.markCommitted(transaction);
      if (transform) this.membership.commitConfirmed(transform.partition, transform.to);
      this.context.count('transactionsCommitted');
      return;
    }
    if (reply.kind !== 'rejected') return;
    if (expectedCode === undefined) this.context.fail(`T${transaction.id}'s commit was refused: ${describeError(reply.error)}`);
    if (!isFerryError(reply.error, expectedCode)) this.context.fail(`T${transaction.id}'s commit failed with ${describeError(reply.error)}, not ${expectedCode}`);
    this.context.count('refusalsExpected');
    await this.endWithoutEffect(transaction, 'refused', `its commit was refused: ${describeError(reply.error)}`);
  }

  /**
   * Other clients' appends while a commit runs, each a few turns after the
   * last: the commit's writes then share journal writes with them in ever
   * different ways (and may be split over two). Their outcome is not checked.
   */
  private async background(): Promise<void> {
    const broker = this.context.broker();
    for (let count = this.context.random.int(4); count > 0; count--) {
      for (let turns = this.context.random.int(12); turns > 0; turns--) await Promise.resolve();
      if (broker !== this.context.broker()) return;
      void broker.appendToStream(BACKGROUND_STREAM, { body: 'noise' }).catch(() => undefined);
    }
  }

  private async abort(transaction: ModelTransaction, why: string): Promise<void> {
    transaction.handle.abort();
    this.context.count('transactionsAborted');
    await this.endWithoutEffect(transaction, 'aborted', why);
  }

  /** The model says the transaction timed out: adding to it or committing it is refused. */
  private async discoverTimeout(transaction: ModelTransaction): Promise<void> {
    try {
      transaction.handle.publish('', { routingKey: OUTPUT_QUEUE, body: `T${transaction.id}:late` });
    } catch (error) {
      if (!isFerryError(error, 'TRANSACTION_ABORTED')) this.context.fail(`T${transaction.id}, timed out, refused an operation with ${describeError(error)}, not TRANSACTION_ABORTED`);
      this.context.count('transactionsTimedOut');
      await this.endWithoutEffect(transaction, 'aborted', `it timed out after ${transaction.timeoutMs} ms`);
      return;
    }
    this.context.fail(`T${transaction.id} accepted an operation ${this.context.clock().monotonicMs() - transaction.beganAtMs} ms after it began, past its timeout of ${transaction.timeoutMs} ms`);
  }

  /** Ends a transaction that must leave no trace; its inputs go back to the queue. */
  private async endWithoutEffect(transaction: ModelTransaction, state: 'aborted' | 'refused', why: string): Promise<void> {
    const deliveries = transaction.inputs.flatMap((input) => (input.heldBy === transaction && input.delivery ? [input.delivery] : []));
    this.discard(transaction, state, why);
    if (transaction.transform) {
      const committed = this.membership.group().committed(transaction.transform.partition) ?? 0;
      if (committed !== transaction.transform.from) this.context.fail(`T${transaction.id} left no trace (${why}), yet partition ${transaction.transform.partition} has committed offset ${committed}, not ${transaction.transform.from}`);
    }
    if (deliveries.length > 0) await this.context.broker().nack(deliveries, { requeue: true });
  }

  /** Model side of a transaction that took no effect. */
  private discard(transaction: ModelTransaction, state: 'aborted' | 'refused', why: string): void {
    transaction.state = state;
    for (const input of transaction.inputs) {
      if (input.heldBy === transaction) {
        input.heldBy = undefined;
        input.delivery = undefined;
      }
    }
    if (transaction.batches.length === 0) {
      // Never committed: register its records, so that seeing one is a failure that names it.
      for (const { model, partition, body } of transaction.appends) {
        transaction.batches.push({ model, batch: model.addBatch(`T${transaction.id}/${body}`, partition, [body], () => ({ kind: 'transaction', transaction: transaction.id }), 'never', undefined) });
      }
    }
    if (transaction.transform) this.membership.commitDropped(transaction.transform.partition, transaction.transform.to);
    this.resolve(transaction, false, why);
  }

  private markCommitted(transaction: ModelTransaction): void {
    transaction.state = 'committed';
    const at = this.context.tick();
    for (const { model, batch } of transaction.batches) model.expect(batch.records, at);
    this.resolve(transaction, true, 'its commit resolved');
  }

  private markInDoubt(transaction: ModelTransaction): void {
    transaction.state = 'in-doubt';
    this.context.count('transactionsInDoubt');
    for (const input of transaction.inputs) {
      if (input.heldBy !== transaction) continue;
      input.heldBy = undefined;
      input.delivery = undefined;
      if (transaction.applied === undefined) input.inDoubtWith = transaction;
    }
  }

  /** After a crash: the committed offset of the transform's partition tells whether the transaction was applied. */
  private offsetEvidence(transaction: ModelTransaction): void {
    const { partition, from, to } = transaction.transform!;
    const committed = this.membership.group().committed(partition) ?? 0;
    if (committed === to) this.resolve(transaction, true, `partition ${partition} has its committed offset ${to}`);
    else if (committed === from) this.resolve(transaction, false, `partition ${partition} kept committed offset ${from}, not its ${to}`);
    else this.context.fail(`T${transaction.id} committed ${from} → ${to} on partition ${partition}, and after recovery the offset is ${committed}`);
  }

  /**
   * Learns whether a transaction took effect; a second, different answer is
   * a transaction applied in part.
   */
  private resolve(transaction: ModelTransaction, applied: boolean, why: string): void {
    if (transaction.applied !== undefined) {
      if (transaction.applied !== applied) {
        this.context.fail(`T${transaction.id} is applied in part: ${transaction.applied ? 'applied' : 'not applied'} as ${transaction.evidence}, ${applied ? 'applied' : 'not applied'} as ${why}`);
      }
      return;
    }
    transaction.applied = applied;
    transaction.evidence = why;
    if (transaction.state === 'in-doubt') this.context.count(applied ? 'inDoubtFoundApplied' : 'inDoubtFoundNotApplied');
    this.context.trace(`T${transaction.id} ${applied ? 'applied' : 'not applied'}: ${why}`);
    for (const input of transaction.inputs) {
      if (input.inDoubtWith === transaction) input.inDoubtWith = undefined;
      if (applied) input.consumedBy = transaction;
    }
    for (const { model, batch } of transaction.batches) {
      if (applied) model.expect(batch.records);
      else model.forbid(batch.records, `T${transaction.id} is not applied (${why})`);
    }
  }

  /** An input was delivered (pulled during the run or drained at the end). */
  private delivered(delivery: Delivery): InputMessage {
    const id = decoder.decode(delivery.message.body);
    const input = this.inputs.get(id);
    if (input === undefined) this.context.fail(`${INPUT_QUEUE} delivered ${id}, which was never published`);
    if (input!.heldBy !== undefined) this.context.fail(`${INPUT_QUEUE} delivered ${id} while T${input!.heldBy.id} holds it`);
    if (input!.consumedBy !== undefined) this.resolve(input!.consumedBy, false, `its input ${id} was delivered again`);
    if (input!.inDoubtWith !== undefined) this.resolve(input!.inDoubtWith, false, `its input ${id} was delivered again after recovery`);
    return input!;
  }

  /** A member confirms a revocation or leaves: its open transaction on those partitions is committed, aborted, or left to fail. */
  private async beforeRelease(member: ModelMember, partitions: readonly number[]): Promise<void> {
    for (const transaction of [...this.transactions.values()]) {
      const transform = transaction.transform;
      if (transaction.state !== 'open' || transform?.member !== member || !partitions.includes(transform.partition)) continue;
      const roll = this.context.random.next();
      if (this.expired(transaction)) await this.discoverTimeout(transaction);
      else if (roll < 0.4) await this.commit(transaction);
      else if (roll < 0.7) await this.abort(transaction, 'its member gave the partition up');
    }
  }

  private stillHolds(transform: Transform): boolean {
    return this.membership.holds(transform.member, transform.partition) && transform.member.tenure.get(transform.partition) === transform.tenure;
  }

  private expired(transaction: ModelTransaction): boolean {
    return transaction.incarnation === this.context.incarnation() && this.context.clock().monotonicMs() - transaction.beganAtMs >= transaction.timeoutMs;
  }

  /**
   * Exactly once, at the end: each input acked by an applied transaction has
   * one output, others none; each events offset below the transformers'
   * committed offset has one output, the others none.
   */
  private checkExactlyOnce(queuePresent: ReadonlyMap<string, number>): void {
    const counts = new Map<string, string[]>();
    for (const output of this.outputs.values()) {
      const present = output.target === 'queue' ? queuePresent.has(output.body) : this.outputStream.record(output.body)?.observed !== undefined;
      if (!present) continue;
      let bodies = counts.get(output.key);
      if (!bodies) counts.set(output.key, (bodies = []));
      bodies.push(output.body);
    }
    const checked = new Set<string>();
    const check = (key: string, expected: number, why: string): void => {
      checked.add(key);
      const bodies = counts.get(key) ?? [];
      if (bodies.length !== expected) this.context.fail(`${key} has ${bodies.length} output(s) [${bodies.join(', ')}], expected ${expected}: ${why}`);
    };
    for (const input of this.inputs.values()) {
      check(`in:${input.id}`, input.consumedBy ? 1 : 0, input.consumedBy ? `T${input.consumedBy.id} consumed it` : 'no applied transaction consumed it');
    }
    for (let partition = 0; partition < EVENTS_PARTITIONS; partition++) {
      const committed = this.membership.group().committed(partition) ?? 0;
      const seen = this.events.seen(partition).length;
      for (let offset = 0; offset < Math.max(committed, seen); offset++) {
        check(`ev:${partition}:${offset}`, offset < committed ? 1 : 0, `${TRANSFORMERS_GROUP} committed offset ${committed} in partition ${partition}`);
      }
    }
    for (const [key, bodies] of counts) if (!checked.has(key)) this.context.fail(`${key} has output(s) [${bodies.join(', ')}], but answers nothing that was read`);
  }
}
