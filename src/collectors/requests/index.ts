// The request-capture collector: payload bytes of HTTP/1 and HTTP/2 connections from bpf/l7.bpf.c, assembled per
// connection and direction (streams.ts) and handed to a consumer per connection: by default a protocol session
// that turns them into `http.request` / `grpc.request` events (sessions.ts); tests may plug in a byte recorder. Loads the socket-length plan, else the syscall-exit plan (spec.ts), writes the capture bounds, and keeps
// the kernel's byte and connection counters for status.
import { bootNowNs, bootNsToUnixNano } from '../../kernel/clock';
import { loadCollector, type CollectorSpec, type LoadedCollector, type LoaderOptions } from '../../kernel/loader';
import { possibleCpuCount } from '../../kernel/run-stats';
import { u32Key } from '../../kernel/maps';
import type { TapioEvent } from '../../core/event';
import type { CollectorContext } from '../types';
import { RingCollector, type RecordHandler } from '../ring-collector';
import { COUNTER_NAMES, L7_SETTINGS } from './layout';
import { RecordDecoder } from './records';
import { socketLengthSpec, syscallExitSpec, REQUESTS_RING, TLS_SHARED_MAPS, type RequestsSpecConfig } from './spec';
import { DEFAULT_SCRUB_RULES } from '../../protocols/scrub';
import { RequestSessions } from './sessions';
import { StreamTable, type ConnectionInfo, type StreamConsumer } from './streams';
import { TlsCapture } from '../tls';
import type { CollectorStatus } from '../types';
import type { LoadedCollector as Loaded } from '../../kernel/loader';
import { kindName, reasonName } from '../../kernel/drops';

export { REQUESTS_RING, requestsHookPlan } from './spec';

/** Makes the consumer of one connection's streams; its events (requests) are emitted with the batch. */
export type ConsumerFactory = (info: ConnectionInfo, emit: (e: TapioEvent) => void) => StreamConsumer;

export interface RequestsCollectorOptions extends LoaderOptions {
  consumer?: ConsumerFactory;
}

export class RequestsCollector extends RingCollector {
  readonly name = 'requests';
  protected readonly ringName = REQUESTS_RING;
  protected override readonly usesLimits = true;
  private streams: StreamTable | undefined;
  private sessions: RequestSessions | undefined;
  private pending: TapioEvent[] = [];
  private readonly counts: Record<string, number> = {};
  private plan = '';
  private factory: ConsumerFactory | undefined;
  /** TLS plaintext (OpenSSL uprobes, src/collectors/tls), fed into the same sessions: collectors.requests.tls. */
  private tls: TlsCapture | undefined;

  constructor(private readonly options: RequestsCollectorOptions = {}) {
    super(options);
  }

  private specConfig(ctx: CollectorContext): RequestsSpecConfig {
    const r = ctx.config.collectors.requests;
    let cpus = 1;
    try { cpus = possibleCpuCount(); } catch { /* the loader will report the missing addon */ }
    return { ringBufferBytes: r.ringBufferBytes, connectionTableSize: r.connectionTableSize, cpus,
      sslTableSize: r.tls.enabled ? r.tls.sslTableSize : 0 };
  }

  protected spec(ctx: CollectorContext): CollectorSpec {
    return ctx.config.collectors.requests.capture === 'syscalls' ? syscallExitSpec(this.specConfig(ctx)) : socketLengthSpec(this.specConfig(ctx));
  }

  /** Payload records are written with bpf_ringbuf_output from a bpf_loop callback: this collector needs the BPF
   *  ring buffer (kernels 5.8+) whatever transport the others use. */
  protected override kernelLoaderOptions(ctx: CollectorContext): LoaderOptions {
    return { ...super.kernelLoaderOptions(ctx), transport: 'ringbuf' };
  }

  protected override async load(spec: CollectorSpec, ctx: CollectorContext): Promise<LoadedCollector> {
    const first = await loadCollector(spec, this.kernelLoaderOptions(ctx));
    if (first.available || ctx.config.collectors.requests.capture === 'syscalls') {
      this.plan = ctx.config.collectors.requests.capture === 'syscalls' ? 'syscall_exit' : 'socket_length';
      return first;
    }
    await first.close();
    const second = await loadCollector(syscallExitSpec(this.specConfig(ctx)), this.kernelLoaderOptions(ctx));
    this.plan = 'syscall_exit';
    // Keep why the preferred plan failed next to the plan that runs.
    for (const h of first.hooks) if (!h.chosen) second.hooks.push({ ...h, optional: true, name: `${h.name} (socket_length plan)` });
    return second;
  }

  protected prepare(loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    const r = ctx.config.collectors.requests;
    const settings = Buffer.alloc(L7_SETTINGS.size);
    settings.writeUInt32LE(r.http1BytesPerSyscall, L7_SETTINGS.fields.http1_bytes.offset);
    settings.writeUInt32LE(r.http2BytesPerSyscall, L7_SETTINGS.fields.http2_bytes.offset);
    settings.writeUInt32LE(r.detectChunks, L7_SETTINGS.fields.detect_chunks.offset);
    settings.writeUInt32LE(r.http2FrameWalk ? 1 : 0, L7_SETTINGS.fields.http2_walk.offset);
    loaded.map('l7_settings_map').update(u32Key(0), settings);

    const decoder = new RecordDecoder(ctx.drops);
    const emit = (e: TapioEvent) => this.pending.push(e);
    let factory = this.options.consumer;
    if (!factory) {
      const sessions = new RequestSessions(ctx.drops, {
        captureHeaders: r.captureHeaders,
        scrub: r.secretHeaders.length ? { headerNames: [...DEFAULT_SCRUB_RULES.headerNames, ...r.secretHeaders.map((h) => h.toLowerCase())] } : undefined,
      });
      this.sessions = sessions;
      factory = (info, out) => sessions.consumer(info, out);
    }
    const make = factory;
    this.factory = factory;
    const streams = new StreamTable(r.sessionTableSize, (info) => make(info, emit));
    this.streams = streams;
    const known = (connection: string): boolean => streams.has(connection);
    return (view, offset, size, out) => {
      const rec = decoder.decode(view, offset, size, known);
      if (rec?.kind === 'data' && this.tls?.isCiphertext(rec.connection)) return; // TLS: its plaintext comes from the uprobes
      if (rec?.kind === 'data') streams.data(rec);
      else if (rec?.kind === 'close') streams.close(rec);
      if (this.pending.length > 0) {
        for (const e of this.pending) {
          this.counts[e.name] = (this.counts[e.name] ?? 0) + 1;
          out.push(e);
        }
        this.pending = [];
      }
    };
  }

  override async start(ctx: CollectorContext): Promise<void> {
    await super.start(ctx);
    if (!this.loaded?.available || !ctx.config.collectors.requests.tls.enabled) return;
    // TLS's socket side runs in this collector's socket programs, on maps both objects share (tls_sockets.h); in the
    // syscall-exit plan it does not run, and TLS calls are reported unmapped.
    const loaded = this.loaded;
    const shared = Object.fromEntries(TLS_SHARED_MAPS.map((m) => [m, loaded.map(m).fd]));
    this.tls = new TlsCapture(ctx, (info, emit) => this.plaintextConsumer(info, emit), this.kernelLoaderOptions(ctx), shared,
      this.plan === 'socket_length');
    await this.tls.start();
  }

  /** The entry point for plaintext captured elsewhere (TLS): the consumer of one stream, from the same factory as
   *  captured connections (protocol sessions, scrubbing, counters); its events are counted like theirs. */
  plaintextConsumer(info: ConnectionInfo, emit: (e: TapioEvent) => void): StreamConsumer {
    if (!this.factory) throw new Error('requests collector not started');
    return this.factory(info, (e) => {
      this.counts[e.name] = (this.counts[e.name] ?? 0) + 1;
      emit(e);
    });
  }

  override status(): CollectorStatus {
    const s = super.status();
    return this.tls ? { ...s, hooks: [...s.hooks, ...this.tls.hooks()] } : s;
  }

  override kernelObjects(): Loaded[] {
    return [...super.kernelObjects(), ...(this.tls?.kernelObjects() ?? [])];
  }

  override syncCounters(): void {
    super.syncCounters();
    if (!this.ctx || !this.tls) return;
    for (const d of this.tls.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
  }

  /** Wall-clock nanoseconds of a kernel boot-clock time (for consumers building events). */
  static toUnixNano(bootNs: bigint): bigint {
    return bootNsToUnixNano(bootNs);
  }

  protected eventCounts(): Record<string, number> {
    return this.counts;
  }

  /** The kernel's byte and connection counts (per reason) and the stream table's, for status and tests. */
  override counters(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.plan) out[`plan_${this.plan}`] = 1;
    if (this.loaded?.available) {
      try {
        const m = this.loaded.map('l7_counters');
        COUNTER_NAMES.forEach((name, i) => {
          out[`kernel_${name}`] = Number(m.sumU64(u32Key(i)));
        });
      } catch { /* closed meanwhile */ }
    }
    if (this.streams) {
      const s = this.streams.counters;
      Object.assign(out, {
        sessions: this.streams.size, sessions_opened: s.connections, sessions_evicted: s.evicted, sessions_closed: s.closed, sessions_shed: s.shed,
        sessions_ring_full: s.ringFull, records_after_end: s.recordsAfterEnd,
        gap_bytes: s.gapBytes, gaps: s.gaps, out_of_order: s.outOfOrder,
      });
    }
    if (this.tls) Object.assign(out, this.tls.counters());
    if (this.sessions) {
      this.sessions.settle();
      const t = this.sessions.totals;
      out.requests_reported = t.reported;
      for (const [reason, n] of Object.entries(t.lost)) if (n > 0) out[`requests_lost_${reason}`] = n;
      for (const [k, n] of Object.entries(t.parser)) if (n > 0) out[`parser_${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`] = n;
      if (t.roleGuessed) out.sessions_role_guessed = t.roleGuessed;
      if (t.unsupported) out.sessions_unsupported = t.unsupported;
    }
    return out;
  }

  override async stop(): Promise<void> {
    await this.tls?.stop();
    await super.stop();
    // Connections still open end with the agent: requests completed by that (close-delimited bodies) still go out,
    // the rest are counted lost ('closed').
    this.streams?.closeAll(bootNowNs());
    if (this.pending.length > 0 && this.ctx) {
      for (const e of this.pending) this.counts[e.name] = (this.counts[e.name] ?? 0) + 1;
      this.ctx.emit(this.pending.splice(0));
    }
  }
}
