// The TLS probes' duty cycle. A uprobe costs the process it traps on every SSL call (a breakpoint trap on entry, a
// return trampoline on return: ~2-3 µs on a VM), whether or not the call's stream is sampled, so sampling bounds the
// agent's CPU but not this. What the probes cost the node is estimated as the kernel's count of probe hits
// (tls_kernel_probe_hits) times the configured cost of one (tls.probeCostNs), plus the agent's own time decoding
// what they captured (measured; once the traps are a quarter of the bound); while it is above tls.maxProbeCostPercent of the node, the probes are attached for
// a window of tls.probeWindowMs and then paused long enough that the average is at the bound. (The agent's time
// counts too because its sampling controller, averaging over seconds that are mostly paused, relaxes to capturing
// everything, so a window would otherwise cost the node far more than its traps: measured, wrk -> node https kept
// ~0.3 of its throughput in windows, ~0.97 in pauses.) Pure state machine: TlsCapture applies what it decides
// (attach.ts pause/resume) and counts it.

export interface DutyCycleSettings {
  maxCostPercent: number;
  costNsPerHit: number;
  cpus: number;
  windowMs: number;
  maxPauseMs: number;
}

export interface DutyCycleCounters {
  /** Times the probes were paused. */
  pauses: number;
  /** Time the probes spent paused, ms (SSL calls then are not seen at all). */
  paused_ms: number;
  /** SSL calls made while paused, estimated from the rate measured in the window before each pause. */
  paused_calls_estimated: number;
}

export type DutyDecision = 'pause' | 'resume' | undefined;

export class ProbeDutyCycle {
  private attached = true;
  private since: number;
  private hitsAtStart: number;
  private decodeAtStart: number;
  private pauseUntil = 0;
  /** The rate of SSL calls measured in the last window, per second. */
  lastRate = 0;
  /** The probes' estimated cost in the last window, percent of the node: traps plus the agent's decoding. */
  lastCostPercent = 0;
  /** Of which the traps in the traced processes. */
  lastTrapPercent = 0;
  /** The agent's time decoding in the last window, percent of the node (counted in the cost only past a quarter of
   *  the bound in traps). */
  lastDecodePercent = 0;
  /** The share of time the probes were attached in the last cycle, 0-1 (1 when never paused). */
  duty = 1;
  /** The length of the last pause decided, ms. */
  lastPauseMs = 0;
  readonly counters: DutyCycleCounters = { pauses: 0, paused_ms: 0, paused_calls_estimated: 0 };

  constructor(private readonly s: DutyCycleSettings, nowMs: number, hits: number, decodeNs = 0) {
    this.since = nowMs;
    this.hitsAtStart = hits;
    this.decodeAtStart = decodeNs;
  }

  get isAttached(): boolean {
    return this.attached;
  }

  /** Called periodically with the kernel's running count of probe hits and the agent's running time decoding TLS
   *  records (ns); says when to pause or resume. */
  tick(nowMs: number, hits: number, decodeNs = 0): DutyDecision {
    if (!this.attached) {
      if (nowMs < this.pauseUntil) return undefined;
      const pausedMs = nowMs - this.since;
      this.counters.paused_ms += pausedMs;
      this.counters.paused_calls_estimated += Math.round(this.lastRate * pausedMs / 1000);
      this.attached = true;
      this.since = nowMs;
      this.hitsAtStart = hits;
      this.decodeAtStart = decodeNs;
      return 'resume';
    }
    const elapsed = nowMs - this.since;
    if (elapsed < this.s.windowMs) return undefined;
    const calls = Math.max(0, hits - this.hitsAtStart);
    this.lastRate = calls * 1000 / elapsed;
    const node = elapsed * 1e6 * this.s.cpus;
    this.lastTrapPercent = (calls * this.s.costNsPerHit) / node * 100;
    // Decoding counts once the traps themselves are a quarter of the bound: below that the probes are cheap, and the
    // agent's own CPU budget (sampling) governs its decoding, as for plaintext; a first window's JIT warm-up, or a
    // slow machine decoding a handful of requests, does not pause them.
    this.lastDecodePercent = Math.max(0, decodeNs - this.decodeAtStart) / node * 100;
    this.lastCostPercent = this.lastTrapPercent + (this.lastTrapPercent >= this.s.maxCostPercent / 4 ? this.lastDecodePercent : 0);
    if (this.lastCostPercent <= this.s.maxCostPercent) {
      this.duty = 1;
      this.since = nowMs;
      this.hitsAtStart = hits;
      this.decodeAtStart = decodeNs;
      return undefined;
    }
    // Attached `elapsed` at cost c, paused p: c * elapsed / (elapsed + p) = bound.
    const pauseMs = Math.min(this.s.maxPauseMs, elapsed * (this.lastCostPercent / this.s.maxCostPercent - 1));
    this.duty = elapsed / (elapsed + pauseMs);
    this.lastPauseMs = pauseMs;
    this.attached = false;
    this.since = nowMs;
    this.pauseUntil = nowMs + pauseMs;
    this.counters.pauses++;
    return 'pause';
  }

  /** Time paused so far including the current pause, ms. */
  pausedMs(nowMs: number): number {
    return this.counters.paused_ms + (this.attached ? 0 : nowMs - this.since);
  }
}
