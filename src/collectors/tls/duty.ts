// The TLS probes' duty cycle. A uprobe costs the process it traps on every SSL call (a breakpoint trap on entry, a
// return trampoline on return: ~2-3 µs on a VM), whether or not the call's stream is sampled, so sampling bounds the
// agent's CPU but not this. What the probes cost the node is estimated as the kernel's count of probe hits
// (tls_kernel_probe_hits) times the configured cost of one (tls.probeCostNs), plus the agent's own time decoding
// what they captured (measured; once the traps are a quarter of the bound); while it is above tls.maxProbeCostPercent of the node, the probes are attached for
// a window of tls.probeWindowMs and then paused long enough that the average is at the bound. (The agent's time
// counts too because its sampling controller, averaging over seconds that are mostly paused, relaxes to capturing
// everything, so a window would otherwise cost the node far more than its traps: measured, wrk -> node https kept
// ~0.3 of its throughput in windows, ~0.97 in pauses.) A window's cost does not stop at its end: the probes trap
// until the kernel has detached them (~100 ms a link) and the ring's backlog is decoded after; what is counted while
// paused lengthens the pause it belongs to. Pure state machine: TlsCapture applies what it decides
// (attach.ts pause/resume) and counts it.

export interface DutyCycleSettings {
  maxCostPercent: number;
  costNsPerHit: number;
  cpus: number;
  windowMs: number;
  maxPauseMs: number;
  /** What the agent's decoding of a window may cost, percent of the node: windows after the first capture 1 of N
   *  streams so that it stays under this (half the agent's CPU budget, limits.budget.cpuPercent). 0: no such sampling. */
  decodeBudgetPercent?: number;
}

/** The most a window samples streams: keep at least 1 of this many (the adaptive controller's maxSampleEvery default). */
const MAX_WINDOW_EVERY = 1024;
/** Captured calls a window must have seen before their decoding cost is trusted. */
const MIN_CALLS = 100;

export interface DutyCycleCounters {
  /** Times the probes were paused. */
  pauses: number;
  /** Time the probes spent paused, ms (SSL calls then are not seen at all). */
  paused_ms: number;
  /** SSL calls made while paused, estimated from the rate measured in the window before each pause. */
  paused_calls_estimated: number;
  /** Probe hits counted after a pause began: the probes go on trapping until the kernel has detached them (~100 ms
   *  a link, RCU grace periods); charged to the cycle they belong to by lengthening its pause. */
  hits_after_pause: number;
}

export type DutyDecision = 'pause' | 'resume' | undefined;

export class ProbeDutyCycle {
  private attached = true;
  private since = 0;
  private hitsAtStart = 0;
  private decodeAtStart = 0;
  private pauseUntil = 0;
  /** The pause as decided at the window's end, ms; what is charged later (late hits, decoding) lengthens it. */
  private basePauseMs = 0;
  private lastWindowMs = 0;
  /** The window that the current pause pays for: where its decoding and captured calls began. */
  private windowDecodeAtStart = 0;
  private windowCapturedAtStart = 0;
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
  /** 1 of N streams captured in a window (tls_settings.window_every): what decoding the last one cost, held to
   *  decodeBudgetPercent. 1 while the probes are not cycling. */
  windowEvery = 1;
  readonly counters: DutyCycleCounters = { pauses: 0, paused_ms: 0, paused_calls_estimated: 0, hits_after_pause: 0 };

  constructor(private readonly s: DutyCycleSettings, nowMs: number, hits: number, decodeNs = 0, capturedCalls = 0) {
    this.startWindow(nowMs, hits, decodeNs, capturedCalls);
  }

  /** A window begins: its cost is measured from these counts. */
  private startWindow(nowMs: number, hits: number, decodeNs: number, capturedCalls: number): void {
    this.since = nowMs;
    this.hitsAtStart = hits;
    this.decodeAtStart = decodeNs;
    this.windowDecodeAtStart = decodeNs;
    this.windowCapturedAtStart = capturedCalls;
  }

  /** Decoding counts once the traps themselves are a quarter of the bound: below that the probes are cheap, and the
   *  agent's own CPU budget (sampling) governs its decoding, as for plaintext; a first window's JIT warm-up, or a
   *  slow machine decoding a handful of requests, does not pause them. */
  private get decodeCounts(): boolean {
    return this.lastTrapPercent >= this.s.maxCostPercent / 4;
  }

  get isAttached(): boolean {
    return this.attached;
  }

  /** Called periodically with the kernel's running count of probe hits, the agent's running time decoding TLS
   *  records (ns) and the kernel's running count of captured calls (tls_kernel_calls); says when to pause or resume. */
  tick(nowMs: number, hits: number, decodeNs = 0, capturedCalls = 0): DutyDecision {
    if (!this.attached) {
      this.chargeLate(hits, decodeNs);
      if (nowMs < this.pauseUntil) return undefined;
      this.counters.hits_after_pause += Math.max(0, hits - this.hitsAtStart);
      const pausedMs = nowMs - this.since;
      this.counters.paused_ms += pausedMs;
      this.counters.paused_calls_estimated += Math.round(this.lastRate * pausedMs / 1000);
      this.sampleNextWindow(decodeNs, capturedCalls);
      this.attached = true;
      this.startWindow(nowMs, hits, decodeNs, capturedCalls);
      return 'resume';
    }
    const elapsed = nowMs - this.since;
    if (elapsed < this.s.windowMs) return undefined;
    const calls = Math.max(0, hits - this.hitsAtStart);
    const node = elapsed * 1e6 * this.s.cpus;
    this.lastRate = calls * 1000 / elapsed;
    this.lastTrapPercent = (calls * this.s.costNsPerHit) / node * 100;
    this.lastDecodePercent = Math.max(0, decodeNs - this.decodeAtStart) / node * 100;
    this.lastCostPercent = this.lastTrapPercent + (this.decodeCounts ? this.lastDecodePercent : 0);
    if (this.lastCostPercent <= this.s.maxCostPercent) {
      this.duty = 1;
      this.windowEvery = 1;
      this.startWindow(nowMs, hits, decodeNs, capturedCalls);
      return undefined;
    }
    // Attached `elapsed` at cost c, paused p: c * elapsed / (elapsed + p) = bound.
    this.lastWindowMs = elapsed;
    this.basePauseMs = elapsed * (this.lastCostPercent / this.s.maxCostPercent - 1);
    this.attached = false;
    this.since = nowMs;
    this.hitsAtStart = hits;
    this.decodeAtStart = decodeNs;
    this.setPause(this.basePauseMs);
    this.counters.pauses++;
    return 'pause';
  }

  /** What the window cost after it ended (hits until the detach took effect, the agent decoding what the ring still
   *  held) is charged to its cycle: the pause grows by as long as spreads that cost at the bound. */
  private chargeLate(hits: number, decodeNs: number): void {
    const lateNs = Math.max(0, hits - this.hitsAtStart) * this.s.costNsPerHit +
      (this.decodeCounts ? Math.max(0, decodeNs - this.decodeAtStart) : 0);
    this.setPause(this.basePauseMs + lateNs / (this.s.maxCostPercent / 100 * this.s.cpus * 1e6));
  }

  /** The share of streams the next window captures: the last window's decoding (what was decoded during it and
   *  since, the ring's backlog) per captured call, at the rate all its streams would have made, held to the budget. */
  private sampleNextWindow(decodeNs: number, capturedCalls: number): void {
    const budget = this.s.decodeBudgetPercent ?? 0;
    if (!(budget > 0) || this.lastWindowMs <= 0) return;
    const captured = capturedCalls - this.windowCapturedAtStart;
    if (captured < MIN_CALLS) {
      // Too little captured to judge, so too little to cost much: capture more next time.
      this.windowEvery = Math.max(1, this.windowEvery / 2);
      return;
    }
    const perCallNs = Math.max(0, decodeNs - this.windowDecodeAtStart) / captured;
    const allPerSecond = captured * this.windowEvery * 1000 / this.lastWindowMs;
    const percentAtOne = allPerSecond * perCallNs / (this.s.cpus * 1e9) * 100;
    let every = 1;
    while (every < MAX_WINDOW_EVERY && percentAtOne / every > budget) every *= 2;
    // At most 4x more sampling, or half, per window: one window's JIT warm-up (a first decode is slow) or one
    // noisy measure does not swing it far.
    const was = this.windowEvery;
    this.windowEvery = every > was ? Math.min(every, was * 4) : Math.max(every, was / 2);
  }

  private setPause(ms: number): void {
    const pauseMs = Math.min(this.s.maxPauseMs, ms);
    this.duty = this.lastWindowMs / (this.lastWindowMs + pauseMs);
    this.lastPauseMs = pauseMs;
    this.pauseUntil = this.since + pauseMs;
  }

  /** Time paused so far including the current pause, ms. */
  pausedMs(nowMs: number): number {
    return this.counters.paused_ms + (this.attached ? 0 : nowMs - this.since);
  }
}
