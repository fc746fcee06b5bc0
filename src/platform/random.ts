/** Randomness as core and storage see it; inject a seeded one in tests. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). */
  int(bound: number): number;
}

/**
 * A small, fast seeded generator (mulberry32). The same seed gives the same
 * sequence on every machine, which is what the simulation needs to replay a failure.
 */
export class SeededRandom implements Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}

/** Randomness from the platform (Math.random); for production wiring only. */
export class SystemRandom implements Random {
  next(): number {
    return Math.random();
  }

  int(bound: number): number {
    return Math.floor(Math.random() * bound);
  }
}
