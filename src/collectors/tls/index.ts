// TLS plaintext capture, part of request capture: loads bpf/tls.bpf.o, finds and attaches the OpenSSL libraries and
// node-like binaries processes map (discovery.ts, attach.ts; rescanned on an interval, so processes that start later
// and libraries loaded later are covered), and feeds the plaintext of each SSL object, as one stream, into the same
// stream table and protocol sessions as plaintext TCP. The request collector owns it (src/collectors/requests) and
// gives it the consumer factory; sockets known to carry TLS are reported back so their ciphertext is never parsed.
import { bootNowNs } from '../../kernel/clock';
import { loadCollector, type HookStatus, type LoadedCollector, type LoaderOptions } from '../../kernel/loader';
import type { RingReader } from '../../kernel/ring';
import { u32Key } from '../../kernel/maps';
import { possibleCpuCount, programRunInfo } from '../../kernel/run-stats';
import type { TapioEvent } from '../../core/event';
import type { CollectorContext } from '../types';
import { ringReaderOptions } from '../ring-options';
import type { ConnectionInfo, StreamConsumer } from '../requests/streams';
import { StreamTable } from '../requests/streams';
import { TlsAttacher } from './attach';
import { Discovery } from './discovery';
import { ProbeDutyCycle } from './duty';
import { UnmappedHold } from './hold';
import { COUNTER_NAMES, TLS_SETTINGS } from './layout';
import { roleFromFirstBytes, TlsRecordDecoder } from './records';
import { TLS_PROBES, TLS_RING, tlsSpec } from './spec';

export { tlsHookPlan, TLS_PROBES } from './spec';

/** The consumer of one plaintext stream (the request collector's protocol sessions). */
export type PlaintextConsumerFactory = (info: ConnectionInfo, emit: (e: TapioEvent) => void) => StreamConsumer;

const SOCKET_SET_MAX = 1 << 16;
const PROBE_HITS_SLOT = COUNTER_NAMES.indexOf('probe_hits');
const CALLS_SLOT = COUNTER_NAMES.indexOf('calls');

export class TlsCapture {
  private loaded: LoadedCollector | undefined;
  private reader: RingReader | undefined;
  private attacher: TlsAttacher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private streams: StreamTable | undefined;
  /** Sockets TLS capture saw (struct sock pointer, hex) -> the latest TLS record's time on it. */
  private readonly tlsSockets = new Map<string, bigint>();
  private readonly counts: Record<string, number> = {
    streams_mapped: 0, streams_unmapped: 0, library_unknown: 0, ciphertext_records_skipped: 0, scans: 0, scan_processes_unreadable: 0, scan_maps_read: 0,
  };
  private stopped = false;
  private readonly pending: TapioEvent[] = [];
  private readonly discovery = new Discovery();
  private hold: UnmappedHold | undefined;
  private duty: ProbeDutyCycle | undefined;
  private dutyTimer: NodeJS.Timeout | undefined;
  private letGoTimer: NodeJS.Timeout | undefined;
  /** tls_settings.epoch: raised each time the probes are attached again after a pause. */
  private epoch = 0;
  private settings: Buffer | undefined;
  /** The agent's time decoding TLS records (ring callback to events handed on), ns: part of what the probes cost. */
  private decodeNs = 0;

  /** `sharedMaps`: request capture's maps of bpf/include/tls_sockets.h (name -> fd), which this object reuses;
   *  `socketsMapped`: whether request capture's socket programs learn sockets for it (its socket-length plan). */
  constructor(private readonly ctx: CollectorContext, private readonly factory: PlaintextConsumerFactory,
    private readonly loaderOptions: LoaderOptions = {}, private readonly sharedMaps: Record<string, number> = {},
    private readonly socketsMapped = true) {}

  private programFailures: { program: string; error: string }[] = [];

  get available(): boolean {
    return (this.loaded?.available ?? false) && this.programFailures.length === 0;
  }

  async start(): Promise<void> {
    const r = this.ctx.config.collectors.requests;
    const t = r.tls;
    let cpus = 1;
    try { cpus = possibleCpuCount(); } catch { /* the loader reports the missing addon */ }
    this.loaded = await loadCollector(tlsSpec({ ringBufferBytes: t.ringBufferBytes, cpus, sharedMaps: this.sharedMaps }),
      { ...this.loaderOptions, transport: 'ringbuf' });
    // The uprobe programs attach per file later: one that did not load makes TLS capture unavailable, with why.
    const probes = new Set(TLS_PROBES.flatMap((p) => [p.entry, p.exit ?? '']));
    this.programFailures = this.loaded.otherFailures.filter((f) => probes.has(f.program));
    if (!this.loaded.available || this.programFailures.length > 0) {
      this.ctx.log(`requests: TLS capture unavailable: ${[...this.loaded.unavailableReasons(),
        ...this.programFailures.map((f) => `${f.program}: ${f.error.split('\n')[0]}`)].join(' | ')}`);
      await this.loaded.close();
      return;
    }
    const settings = Buffer.alloc(TLS_SETTINGS.size);
    settings.writeUInt32LE(t.bytesPerCall, TLS_SETTINGS.fields.bytes_per_call.offset);
    settings.writeUInt32LE(Math.min(0xffffffff, t.adjacentReadUs * 1000), TLS_SETTINGS.fields.adjacent_ns.offset);
    settings.writeUInt32LE(process.pid, TLS_SETTINGS.fields.self_tgid.offset);
    settings.writeUInt32LE(this.epoch, TLS_SETTINGS.fields.epoch.offset);
    this.loaded.map('tls_settings_map').update(u32Key(0), settings);
    this.settings = settings;

    const attacher = new TlsAttacher(this.loaded, t.maxFiles, t.sharedEntryPoints);
    this.attacher = attacher;
    const pending = this.pending;
    const emit = (e: TapioEvent) => pending.push(e);
    const streams = new StreamTable(r.sessionTableSize, (info) => {
      const mapped = info.tuple.localAddress !== '';
      this.counts[mapped ? 'streams_mapped' : 'streams_unmapped']++;
      const attributes: Record<string, string | number | boolean> = { 'tls.protocol.name': 'tls' };
      // The file whose probe made the stream's first call (its cookie), else which TLS file the process maps.
      const lib = attacher.fileOfCookie(firstLib) ?? attacher.libraryOf(info.pid);
      if (lib) attributes['tapio.tls.library'] = lib;
      else this.counts.library_unknown++;
      if (!mapped) attributes['tapio.tls.unmapped'] = true;
      return this.factory({ ...info, attributes }, emit);
    });
    this.streams = streams;
    // The record a stream opens with is handed on here (directly, or released by the hold): its cookie names
    // the library, for the stream's attributes made when the table opens it.
    let firstLib = 0;
    const hold = new UnmappedHold((rec) => { firstLib = rec.lib; streams.data(rec); });
    this.hold = hold;
    const decoder = new TlsRecordDecoder(this.ctx.drops);
    this.reader = this.loaded.openRing(TLS_RING, (batch) => {
      const began = process.hrtime.bigint();
      batch.forEach((view, offset, size) => {
        try {
          const rec = decoder.decode(view, offset, size);
          if (rec?.kind === 'data') {
            if (rec.sock !== 0n) this.noteSocket(rec.sock, rec.timeNs);
            rec.role = roleFromFirstBytes(rec.direction, rec.data);
            hold.data(rec);
          } else if (rec?.kind === 'close') {
            if (rec.sock !== 0n && rec.reason === 'closed') this.tlsSockets.delete(rec.sock.toString(16)); // a stream let go still carries TLS
            hold.close(rec);
            streams.close(rec);
          }
        } catch {
          this.ctx.drops.count('decode', 'tls.record', 'handler_error');
        }
      });
      hold.expire();
      if (pending.length > 0) this.ctx.emit(pending.splice(0));
      this.decodeNs += Number(process.hrtime.bigint() - began);
    }, ringReaderOptions(this.ctx.config));

    this.scan();
    this.timer = setInterval(() => this.scan(), t.rescanIntervalMs);
    this.timer.unref();
    if (t.maxProbeCostPercent < 100) {
      this.duty = new ProbeDutyCycle({ maxCostPercent: t.maxProbeCostPercent, costNsPerHit: t.probeCostNs, cpus,
        windowMs: t.probeWindowMs, maxPauseMs: t.maxProbePauseMs,
        decodeBudgetPercent: this.ctx.config.limits.budget.cpuPercent / 2 },
      Date.now(), this.kernelCount(PROBE_HITS_SLOT), this.decodeNs, this.kernelCount(CALLS_SLOT));
      this.dutyTimer = setInterval(() => this.dutyTick(), Math.min(1000, Math.max(100, t.probeWindowMs / 2)));
      this.dutyTimer.unref();
    }
  }

  /** A running kernel count (tls_counters): entry probe hits (every SSL call of every probed process), calls captured. */
  private kernelCount(slot: number): number {
    try {
      return Number(this.loaded!.map('tls_counters').sumU64(u32Key(slot)));
    } catch {
      return 0;
    }
  }

  /** The open TLS streams end with the pause: what they had in flight is lost as `tls_paused`. */
  private letGoPausedStreams(): void {
    this.hold?.flush();
    this.streams?.letGoAll(bootNowNs(), 'tls_paused');
    if (this.pending.length > 0) this.ctx.emit(this.pending.splice(0));
  }

  /** Pauses or resumes the probes as the duty cycle says (duty.ts). */
  private dutyTick(): void {
    if (!this.duty || !this.attacher || this.stopped) return;
    // Nothing probed, nothing to measure (the count stands still); a pause in progress still ends on time.
    if (this.attacher.attached.size === 0 && this.duty.isAttached) return;
    const decision = this.duty.tick(Date.now(), this.kernelCount(PROBE_HITS_SLOT), this.decodeNs, this.kernelCount(CALLS_SLOT));
    if (decision === 'pause') {
      this.attacher.pause();
      this.ctx.log(`requests: TLS probes paused for ${(this.duty.lastPauseMs / 1000).toFixed(1)} s: ${this.duty.lastRate.toFixed(0)} SSL calls/s cost ~${this.duty.lastCostPercent.toFixed(1)}% of the node (traps in the traced processes ${this.duty.lastTrapPercent.toFixed(1)}%, the agent decoding them ${(this.duty.lastCostPercent - this.duty.lastTrapPercent).toFixed(1)}%; tls.maxProbeCostPercent ${this.ctx.config.collectors.requests.tls.maxProbeCostPercent})`);
      // Records made before the detach may still be in the ring: the streams are let go once those are read.
      this.letGoTimer = setTimeout(() => {
        this.letGoTimer = undefined;
        if (!this.stopped && this.attacher?.isPaused) this.letGoPausedStreams();
      }, 500);
      this.letGoTimer.unref();
    } else if (decision === 'resume') {
      if (this.letGoTimer) { clearTimeout(this.letGoTimer); this.letGoTimer = undefined; this.letGoPausedStreams(); }
      // State of SSL objects and threads from before the pause is stale from now on (bpf/tls.bpf.c: epoch).
      this.epoch = (this.epoch + 1) >>> 0;
      this.writeSettings();
      this.attacher.resume();
    } else if (this.duty.windowEvery !== this.settings?.readUInt32LE(TLS_SETTINGS.fields.window_every.offset)) {
      this.writeSettings(); // the probes are cheap again: every stream captured
    }
  }

  /** tls_settings with the current epoch and window sampling (the rest is fixed at start). */
  private writeSettings(): void {
    if (!this.settings || !this.duty) return;
    this.settings.writeUInt32LE(this.epoch, TLS_SETTINGS.fields.epoch.offset);
    this.settings.writeUInt32LE(this.duty.windowEvery, TLS_SETTINGS.fields.window_every.offset);
    try { this.loaded!.map('tls_settings_map').update(u32Key(0), this.settings); } catch { /* closed meanwhile */ }
  }

  /** Reads every process's maps and attaches/detaches to match. Synchronous and bounded by the process count. */
  scan(): void {
    if (!this.attacher || this.stopped) return;
    const s = this.discovery.scan(new Set([process.pid]));
    this.counts.scans++;
    this.hold?.expire();
    if (this.pending.length > 0) this.ctx.emit(this.pending.splice(0));
    this.counts.scan_processes_unreadable += s.unreadable;
    this.counts.scan_maps_read += s.mapsRead;
    this.attacher.sync(s.files);
  }

  private noteSocket(sock: bigint, timeNs: bigint): void {
    const k = sock.toString(16);
    if (!this.tlsSockets.has(k) && this.tlsSockets.size >= SOCKET_SET_MAX) this.tlsSockets.clear();
    this.tlsSockets.set(k, timeNs);
  }

  /** True when a plaintext-path connection key (`<sock hex>:<start ns>`) is a socket TLS capture saw carrying TLS
   *  after that connection began (a reused socket address of a later connection is not): its bytes are ciphertext,
   *  not to be parsed. Counted. */
  isCiphertext(connectionKey: string): boolean {
    if (this.tlsSockets.size === 0) return false;
    const colon = connectionKey.indexOf(':');
    const seen = this.tlsSockets.get(connectionKey.slice(0, colon));
    if (seen === undefined) return false;
    let start: bigint;
    try { start = BigInt(connectionKey.slice(colon + 1)); } catch { return false; }
    const hit = start <= seen;
    if (hit) this.counts.ciphertext_records_skipped++;
    return hit;
  }

  hooks(): HookStatus[] {
    if (!this.loaded) return [];
    const failed: HookStatus[] = this.programFailures.map((f) => ({
      name: `tls_uprobe ${f.program}`, optional: true, attempts: [{ kind: 'uprobe', program: f.program, stage: 'load', error: f.error }],
    }));
    // Which socket an SSL object is on is learnt by request capture's socket programs, in its socket-length plan.
    const socketIo: HookStatus = this.socketsMapped
      ? { name: 'tls_socket_io', optional: true, chosen: { kind: 'tp_btf', program: 'l7_send_btf, l7_recv_btf' }, attempts: [] }
      : { name: 'tls_socket_io', optional: true, attempts: [{ kind: 'tp_btf', program: 'l7_send_btf, l7_recv_btf', stage: 'skipped',
        error: 'request capture runs its syscall-exit plan: TLS calls are reported without their socket (unmapped)' }] };
    return [...this.loaded.hooks.map((h) => ({ ...h, optional: true })), socketIo, ...failed, ...(this.attacher?.hookStatuses() ?? [])];
  }

  kernelObjects(): LoadedCollector[] {
    return this.loaded?.available ? [this.loaded] : [];
  }

  /** Counters under `tls_`: the kernel's per-reason counts, files, streams. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    if (!this.loaded) return out;
    out.tls_available = this.available ? 1 : 0;
    if (this.available && !this.stopped) {
      try {
        const m = this.loaded.map('tls_counters');
        COUNTER_NAMES.forEach((name, i) => {
          if (!name) return;
          out[`tls_kernel_${name}`] = Number(m.sumU64(u32Key(i)));
        });
      } catch { /* closed meanwhile */ }
    }
    if (this.attacher) {
      for (const [k, v] of Object.entries(this.attacher.counters)) out[`tls_${k}`] = v;
      out.tls_files_attached_now = this.attacher.attached.size;
      out.tls_files_failed_now = this.attacher.failed.size;
    }
    if (this.duty) {
      const now = Date.now();
      out.tls_probes_paused_now = this.duty.isAttached ? 0 : 1;
      out.tls_probe_pauses = this.duty.counters.pauses;
      out.tls_probe_hits_after_pause = this.duty.counters.hits_after_pause;
      out.tls_probe_window_sample_every = this.duty.windowEvery;
      out.tls_probes_paused_ms = this.duty.pausedMs(now);
      out.tls_probe_paused_calls_estimated = this.duty.counters.paused_calls_estimated;
      out.tls_probe_calls_per_second = Math.round(this.duty.lastRate);
      out.tls_probe_cost_node_permille = Math.round(this.duty.lastCostPercent * 10);
      out.tls_probe_trap_cost_node_permille = Math.round(this.duty.lastTrapPercent * 10);
      out.tls_decode_ms = Math.round(this.decodeNs / 1e6);
      out.tls_probe_duty_percent = Math.round(this.duty.duty * 100);
    }
    for (const [k, v] of Object.entries(this.counts)) out[`tls_${k}`] = v;
    if (this.hold) for (const [k, v] of Object.entries(this.hold.counters)) out[`tls_${k}`] = v;
    if (this.streams) {
      out.tls_sessions = this.streams.size;
      out.tls_gap_bytes = this.streams.counters.gapBytes;
      out.tls_out_of_order = this.streams.counters.outOfOrder;
      out.tls_sessions_shed = this.streams.counters.shed;
      out.tls_sessions_ring_full = this.streams.counters.ringFull;
      out.tls_sessions_paused = this.streams.counters.paused;
      out.tls_records_after_end = this.streams.counters.recordsAfterEnd;
    }
    return out;
  }

  /** Run count and time of each uprobe program (needs kernel.bpf_stats_enabled, src/kernel/run-stats.ts). */
  programRunStats(): Record<string, { runCount: number; runTimeNs: number }> {
    const out: Record<string, { runCount: number; runTimeNs: number }> = {};
    if (!this.available || this.stopped) return out;
    for (const p of new Set(TLS_PROBES.flatMap((x) => [x.entry, ...(x.exit ? [x.exit] : [])]))) out[p] = programRunInfo(this.loaded!.programFd(p));
    return out;
  }

  /** Pulls the kernel's drop counts (kind tls.data/tls.close) into the registry. */
  readDrops(): ReturnType<LoadedCollector['readDrops']> {
    return this.loaded?.available && !this.stopped ? this.loaded.readDrops() : [];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    if (this.dutyTimer) clearInterval(this.dutyTimer);
    if (this.letGoTimer) clearTimeout(this.letGoTimer);
    await this.attacher?.detachAll();
    this.loaded?.detachAll();
    this.reader?.stop();
    this.stopped = true;
    // Streams still open end with the agent: what that completes still goes out.
    this.hold?.flush();
    this.streams?.closeAll(bootNowNs());
    if (this.pending.length > 0) this.ctx.emit(this.pending.splice(0));
    await this.loaded?.close();
  }
}
