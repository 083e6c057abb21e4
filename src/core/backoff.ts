// One exponential backoff for every retry loop (export lanes, Kubernetes watches, runtime sockets, the loader):
// each next() doubles the delay up to a ceiling; reset() starts again after a success. Jitter spreads agents that
// fail together (a collector or API server outage) so they do not all come back in the same millisecond.

/** none: the exact delay; spread: ±20% around it; half: between half and all of it. */
export type Jitter = 'none' | 'spread' | 'half';

export class Backoff {
  private delayMs: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs = Number.POSITIVE_INFINITY,
    private readonly jitter: Jitter = 'none',
    private readonly random: () => number = Math.random,
  ) {
    this.delayMs = initialMs;
  }

  /** The delay to wait now (with jitter); the one after it doubles, up to the ceiling. */
  next(): number {
    const base = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxMs);
    if (this.jitter === 'spread') return base * (0.8 + this.random() * 0.4);
    if (this.jitter === 'half') return base * (0.5 + this.random() / 2);
    return base;
  }

  /** The delay next() would start from, without jitter (for messages such as "retrying in N ms"). */
  peek(): number {
    return this.delayMs;
  }

  reset(): void {
    this.delayMs = this.initialMs;
  }
}
