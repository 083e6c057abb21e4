// The adaptive controller: keeps the agent inside its CPU and memory budget by sampling more (keep 1 of N, N up)
// when usage is over budget, and less again once usage has stayed well under it for a while (hysteresis). Steps
// are bounded (N doubles or halves per interval, within [configured N, maxSampleEvery]) so it neither oscillates
// nor overreacts to one noisy measurement. Every decision is logged, counted and kept for status and /metrics.
import type { ResourceSample, ResourceSource } from '../../core/resources';

export interface AdaptiveOptions {
  /** Share of the node's CPU (all cores) the agent may use, e.g. 0.02. */
  cpuBudget: number;
  memoryBudgetBytes: number;
  /** Kinds the controller may sample, with the N configured for each (never goes below it). */
  baseSampleEvery: Record<string, number>;
  maxSampleEvery: number;
  /** Raise rates again only below this share of the budget... */
  raiseBelowRatio: number;
  /** ...for this many intervals in a row. */
  calmIntervals: number;
  /** Multiplier per step (default 2). */
  stepFactor?: number;
}

export interface AdaptiveDecision {
  at: string;
  direction: 'lower' | 'raise';
  /** What was over (or back under) budget, with the numbers, for a person. */
  reason: string;
  cpuFraction: number;
  rssBytes: number;
  sampleEvery: Record<string, number>;
}

export interface AdaptiveState {
  enabled: boolean;
  cpuBudget: number;
  memoryBudgetBytes: number;
  overBudget: { cpu: boolean; memory: boolean };
  lastSample?: ResourceSample;
  /** Current N per kind: 1 of N events of that kind is kept. */
  sampleEvery: Record<string, number>;
  decisions: { lower: number; raise: number };
  recent: AdaptiveDecision[];
}

/** Applies a kind's new N (to every BPF object's tapio_limits_config); must not throw for a kind it does not know. */
export type ApplySampling = (kind: string, sampleEvery: number) => void;

const RECENT_DECISIONS = 20;

export class AdaptiveController {
  private readonly current: Record<string, number>;
  private readonly step: number;
  private calm = 0;
  private timer?: NodeJS.Timeout;
  private lastSample?: ResourceSample;
  private over = { cpu: false, memory: false };
  private readonly counts = { lower: 0, raise: 0 };
  private readonly recent: AdaptiveDecision[] = [];
  private readonly listeners: ((d: AdaptiveDecision) => void)[] = [];
  applyErrors = 0;

  constructor(
    private readonly options: AdaptiveOptions,
    private readonly apply: ApplySampling,
    private readonly resources: ResourceSource,
    private readonly log: (message: string) => void = () => undefined,
  ) {
    if (!(options.cpuBudget > 0)) throw new RangeError('cpuBudget must be > 0');
    this.step = Math.max(2, Math.floor(options.stepFactor ?? 2));
    this.current = {};
    for (const [k, n] of Object.entries(options.baseSampleEvery)) this.current[k] = Math.max(1, Math.floor(n));
  }

  onDecision(listener: (d: AdaptiveDecision) => void): void {
    this.listeners.push(listener);
  }

  /** Measures usage and takes at most one step. Called by the timer; tests and benchmarks may call it directly. */
  tick(sample: ResourceSample = this.resources.sample()): AdaptiveDecision | undefined {
    this.lastSample = sample;
    const { cpuBudget, memoryBudgetBytes } = this.options;
    this.over = { cpu: sample.cpuFraction > cpuBudget, memory: sample.rssBytes > memoryBudgetBytes };
    if (this.over.cpu || this.over.memory) {
      this.calm = 0;
      const why = [
        this.over.cpu ? `CPU ${pct(sample.cpuFraction)} of the node > budget ${pct(cpuBudget)}` : '',
        this.over.memory ? `RSS ${mib(sample.rssBytes)} > budget ${mib(memoryBudgetBytes)}` : '',
      ].filter(Boolean).join(', ');
      return this.change('lower', why, sample, (n) => Math.min(this.options.maxSampleEvery, n * this.step));
    }
    const calmNow = sample.cpuFraction < cpuBudget * this.options.raiseBelowRatio &&
      sample.rssBytes < memoryBudgetBytes * this.options.raiseBelowRatio;
    this.calm = calmNow ? this.calm + 1 : 0;
    if (this.calm < this.options.calmIntervals) return undefined;
    this.calm = 0;
    const why = `CPU ${pct(sample.cpuFraction)} and RSS ${mib(sample.rssBytes)} under ` +
      `${Math.round(this.options.raiseBelowRatio * 100)}% of budget for ${this.options.calmIntervals} intervals`;
    return this.change('raise', why, sample, (n, kind) => Math.max(this.base(kind), Math.floor(n / this.step)));
  }

  private base(kind: string): number {
    return Math.max(1, this.options.baseSampleEvery[kind] ?? 1);
  }

  private change(direction: 'lower' | 'raise', reason: string, sample: ResourceSample,
    next: (n: number, kind: string) => number): AdaptiveDecision | undefined {
    let changed = false;
    for (const kind of Object.keys(this.current)) {
      const n = next(this.current[kind], kind);
      if (n === this.current[kind]) continue;
      try {
        this.apply(kind, n);
        this.current[kind] = n;
        changed = true;
      } catch (e) {
        this.applyErrors++;
        this.log(`adaptive: cannot set sampling of ${kind} to 1/${n}: ${(e as Error).message}`);
      }
    }
    if (!changed) return undefined; // already at the bound: nothing to say again
    const d: AdaptiveDecision = {
      at: new Date().toISOString(), direction, reason, cpuFraction: sample.cpuFraction, rssBytes: sample.rssBytes,
      sampleEvery: { ...this.current },
    };
    this.counts[direction]++;
    this.recent.push(d);
    if (this.recent.length > RECENT_DECISIONS) this.recent.shift();
    this.log(`adaptive: ${direction === 'lower' ? 'lowering' : 'raising'} sampling rates (${reason}): ` +
      Object.entries(d.sampleEvery).map(([k, n]) => `${k} 1/${n}`).join(', '));
    for (const l of this.listeners) l(d);
    return d;
  }

  start(intervalMs: number): void {
    this.stop();
    this.resources.sample(); // open the first measurement window now
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  sampleEvery(): Record<string, number> {
    return { ...this.current };
  }

  state(): AdaptiveState {
    return {
      enabled: true,
      cpuBudget: this.options.cpuBudget,
      memoryBudgetBytes: this.options.memoryBudgetBytes,
      overBudget: { ...this.over },
      lastSample: this.lastSample,
      sampleEvery: this.sampleEvery(),
      decisions: { ...this.counts },
      recent: [...this.recent],
    };
  }
}

function pct(f: number): string {
  return `${(f * 100).toFixed(2)}%`;
}

function mib(b: number): string {
  return `${(b / 1048576).toFixed(0)} MiB`;
}
