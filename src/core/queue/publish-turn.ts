import { deferred, type Deferred } from '../../lib/deferred.js';

/** What a {@link PublishTurn} runs at the end of the turn: a queue that was offered messages. */
export interface TurnMember {
  /** Appends what the member holds pending, then delivers. Must not throw (a throw is rethrown later). */
  endOfTurn(): void;
}

/**
 * The end of a publishing turn, shared by the queues of a vhost. A queue
 * offered messages joins the turn; once the turn's synchronous work is done
 * (one microtask), each member appends its pending records as one batch and
 * delivers. Every persistent message the turn wrote to durable logs waits
 * for one promise, {@link durable}, bound then to the store's
 * {@link LogStore.written}: a turn that publishes one message to each of a
 * thousand queues makes one promise and one end-of-turn pass, not a
 * thousand of each.
 *
 * A member whose append fails calls {@link fail}: the turn's promise then
 * rejects, for all its publishes (a publisher told "not confirmed" about a
 * message that was written may publish it again; one told "confirmed" about
 * one that was not would lose it).
 */
export class PublishTurn {
  private members: TurnMember[] = [];
  private scheduled = false;
  private pending: Deferred<void> | null = null;
  private failure: { readonly error: unknown } | null = null;
  private readonly run = (): void => this.end();

  /** `written`: the promise that everything appended so far is written (the durable store's). */
  constructor(private readonly written: () => Promise<void>) {}

  /** Runs `member.endOfTurn()` at the end of this turn. A member joins once a turn (its caller keeps track). */
  join(member: TurnMember): void {
    this.members.push(member);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.run);
    }
  }

  /**
   * The promise of this turn's durable writes: it resolves once everything
   * appended before the end of the turn is written, and rejects when one of
   * them fails. A caller that takes it must have joined the turn.
   */
  durable(): Promise<void> {
    if (this.pending === null) {
      this.pending = deferred<void>();
      // A turn whose only publishes nobody awaits (dead letters) may fail unobserved: that is no
      // crash. Those who await still see the rejection through their own promises.
      this.pending.promise.catch(() => undefined);
    }
    return this.pending.promise;
  }

  /** A write this turn's promise covers failed (or will never happen): the promise rejects with `error`. */
  fail(error: unknown): void {
    if (this.pending !== null && this.failure === null) this.failure = { error };
  }

  private end(): void {
    this.scheduled = false;
    const members = this.members;
    let thrown: { readonly error: unknown } | null = null;
    // Members that join while the others run (a dead-lettered message, say) run in this pass too.
    for (let index = 0; index < members.length; index++) {
      try {
        members[index]!.endOfTurn();
      } catch (error) {
        thrown ??= { error };
      }
    }
    this.members = [];
    const done = this.pending;
    // A member that threw may not have appended what it holds: nothing of the turn is confirmed.
    const failure = this.failure ?? thrown;
    this.pending = null;
    this.failure = null;
    if (done !== null) {
      if (failure !== null) {
        done.reject(failure.error);
      } else {
        try {
          this.written().then(done.resolve, done.reject);
        } catch (error) {
          done.reject(error);
        }
      }
    }
    if (thrown !== null) {
      // A bug in a member: surfaced as an uncaught error, as it would be from a microtask of its own.
      const { error } = thrown;
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
