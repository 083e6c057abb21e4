// Benchmark of the OTLP exporter: events offered at 10k and 100k events/s (and as fast as possible) to a real
// receiver in a child process (test/export/receiver.ts, decoding with the official protos), over gRPC and
// HTTP/protobuf. Prints delivered records/s, the agent side's CPU and memory, end-to-end latency p50/p99 (event
// timestamp to decoded at the receiver), and drops. Run: npx tsc -p . && node dist/bench/export-throughput.js
import { fork, type ChildProcess } from 'node:child_process';
import { DropCounters } from '../src/core/drops';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { LogsEncoder } from '../src/export/encode/logs';
import { createOtlpExporter } from '../src/export/otlp';
import { eventToLogRecord, INSTRUMENTATION_SCOPE } from '../src/export/records';
import { tapioResource, tapioResourceAttributes } from '../src/export/resource';
import { exportConfigSchema } from '../src/config/export';
import type { TapioEvent } from '../src/core/event';
import { OtlpReceiver } from '../test/export/receiver';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

// ---- child: the receiver ----
async function runReceiver(protocol: 'grpc' | 'http'): Promise<void> {
  const latenciesMs: number[] = [];
  // The same without the first second of traffic (connection set-up, the JIT compiling the hot path).
  const steadyMs: number[] = [];
  let firstAt = 0;
  let count = 0;
  const receiver = new OtlpReceiver({
    protocol, keep: false, sampleEvery: 5, // decode 1 request in 5 for latency: keep the receiver off the critical path
    onReceive: (r) => {
      count++;
      if (!r.body) return;
      const now = Date.now();
      firstAt ||= now;
      for (const rl of r.body.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
        const ms = now - Number(BigInt(lr.timeUnixNano) / 1_000_000n);
        latenciesMs.push(ms);
        if (now - firstAt >= 1000) steadyMs.push(ms);
      }
    },
  });
  await receiver.start();
  process.send!({ port: receiver.port });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'reset') { // a measurement starts after a warm-up: latency from here on
      latenciesMs.length = 0;
      steadyMs.length = 0;
      process.send!({ reset: true });
    } else if (m.cmd === 'stats') {
      latenciesMs.sort((a, b) => a - b);
      steadyMs.sort((a, b) => a - b);
      const q = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
      process.send!({ count, p50: q(latenciesMs, 0.5), p99: q(latenciesMs, 0.99), p99Steady: q(steadyMs, 0.99) }); // count = requests
      void receiver.stop().then(() => process.exit(0));
    }
  });
}

// ---- parent: the exporter under load ----
function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send({ cmd });
  });
}

function makeEvent(seq: number): TapioEvent {
  return {
    name: 'network.tcp.close',
    timeUnixNano: BigInt(Date.now()) * 1_000_000n,
    cgroupId: 77n,
    attributes: {
      'process.pid': 1000 + (seq % 50), 'network.peer.address': '10.0.0.7', 'network.peer.port': 443,
      'tapio.bytes.sent': 1200, 'tapio.bytes.received': 5400, 'tapio.tcp.srtt_us': 180, 'tapio.duration_ns': 3_000_000,
      'container.id': 'c0ffee', 'k8s.pod.name': `web-${seq % 20}`, 'k8s.namespace.name': 'shop',
      'k8s.deployment.name': 'web', 'k8s.container.name': 'nginx',
    },
  };
}

interface Row {
  protocol: string; offered: string; produced: number; delivered: number; recordsPerSec: number;
  cpuPct: number; usPerEvent: number; rssMiB: number; heapMiB: number; p50: number; p99: number; dropped: number;
}

async function runCase(protocol: 'grpc' | 'http/protobuf', rate: number | 'max'): Promise<Row> {
  const child = fork(__filename, ['--receiver', protocol === 'grpc' ? 'grpc' : 'http']);
  const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => r(m as { port: number })));
  const drops = new DropCounters();
  const otlp = exportConfigSchema.parse({ otlp: {
    enabled: true, endpoint: `http://127.0.0.1:${port}`, protocol, metrics: { enabled: false },
    batch: { maxRecords: 2048, delayMs: 100 }, queueMaxRecords: 200_000,
  } }).otlp;
  const exporter = createOtlpExporter(otlp, { drops, env: {}, log: () => {} });
  if (global.gc) global.gc();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let produced = 0;
  let peakRss = 0;
  let peakHeap = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = Date.now() - t0;
      if (elapsed >= SECONDS * 1000) { resolve(); return; }
      const due = rate === 'max' ? produced + 2000 : Math.floor((elapsed / 1000) * rate);
      const batch: TapioEvent[] = [];
      while (produced < due) batch.push(makeEvent(produced++));
      exporter.export(batch);
      sample();
      if (rate === 'max') setImmediate(tick); else setTimeout(tick, 5);
    };
    tick();
  });
  // Let the queue drain (bounded), then measure.
  const drainStart = Date.now();
  let delivered = 0;
  while (Date.now() - drainStart < 30_000) {
    delivered = exporter.stats().signals.logs.sentRecords; // acknowledged by the receiver
    if (delivered + drops.total() >= produced) break;
    sample();
    await new Promise((r) => setTimeout(r, 100));
  }
  const wallMs = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await exporter.shutdown();
  const stats = await ask<{ count: number; p50: number; p99: number }>(child, 'stats');
  return {
    protocol, offered: rate === 'max' ? 'max' : `${rate / 1000}k/s`, produced, delivered,
    recordsPerSec: Math.round(delivered / (wallMs / 1000)),
    cpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
    usPerEvent: (cpu.user + cpu.system) / Math.max(1, delivered),
    rssMiB: Math.round(peakRss / 2 ** 20), heapMiB: Math.round(peakHeap / 2 ** 20),
    p50: stats.p50, p99: stats.p99, dropped: drops.total(),
  };
}

/** Encoding alone, old path and new, interleaved in one run: µs per event (median of rounds) and bytes. */
function encodeRows(): { path: string; usPerEvent: number; bytesPerEvent: number }[] {
  const resource = tapioResource({ env: {}, nodeName: 'node-1' });
  const encoder = new LogsEncoder(tapioResourceAttributes({ env: {}, nodeName: 'node-1' }), INSTRUMENTATION_SCOPE);
  const events = Array.from({ length: 2048 }, (_, i) => makeEvent(i));
  const paths = {
    'official (eventToLogRecord + ProtobufLogsSerializer)': () => ProtobufLogsSerializer.serializeRequest(events.map((e) => eventToLogRecord(e, resource)))!,
    'direct (src/export/encode/logs.ts)': () => encoder.encode(events),
  };
  const times: Record<string, number[]> = {};
  const sizes: Record<string, number> = {};
  for (let round = 0; round < 30; round++) {
    for (const [name, run] of Object.entries(paths)) {
      const t0 = process.hrtime.bigint();
      sizes[name] = run().length;
      (times[name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1000 / events.length);
    }
  }
  return Object.keys(paths).map((name) => {
    const ts = times[name]!.slice(5).sort((a, b) => a - b); // the first rounds warm the JIT
    return { path: name, usPerEvent: ts[Math.floor(ts.length / 2)]!, bytesPerEvent: sizes[name]! / events.length };
  });
}

async function main(): Promise<void> {
  const { loadavg } = await import('node:os');
  const enc = encodeRows();
  console.log(`\nOTLP logs encoding alone, batches of 2048 network.tcp.close events (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
  console.log('path                                                   µs/event  bytes/event');
  for (const r of enc) console.log(`${r.path.padEnd(54)} ${r.usPerEvent.toFixed(2).padStart(8)} ${r.bytesPerEvent.toFixed(0).padStart(12)}`);
  console.log(`speed-up: ${(enc[0]!.usPerEvent / enc[1]!.usPerEvent).toFixed(1)}x`);
  if (process.env.BENCH_ENCODE_ONLY) return;
  const rows: Row[] = [];
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    for (const rate of [10_000, 100_000, 'max'] as const) rows.push(await runCase(protocol, rate));
  }
  console.log(`\nOTLP export (direct encoder), ${SECONDS} s per case, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, log records of network.tcp.close (13 attributes), batch 2048`);
  console.log('exporter and receiver on the same 2 cores; CPU is the exporter process only (100% = one core),');
  console.log('including making the events; "max" offers events as fast as the loop can make them (most are');
  console.log('then dropped as queue_full, by design); latency: event time to decoded at the receiver (1 request in 5)\n');
  console.log('protocol       offered  produced  delivered  records/s  cpu%  µs/event  rss MiB  heap MiB  p50 ms  p99 ms  dropped');
  for (const r of rows) {
    console.log(`${r.protocol.padEnd(14)} ${r.offered.padStart(7)} ${String(r.produced).padStart(9)} ` +
      `${String(r.delivered).padStart(10)} ${String(r.recordsPerSec).padStart(10)} ${String(r.cpuPct).padStart(5)} ${r.usPerEvent.toFixed(2).padStart(9)} ` +
      `${String(r.rssMiB).padStart(8)} ${String(r.heapMiB).padStart(9)} ${String(r.p50).padStart(7)} ` +
      `${String(r.p99).padStart(7)} ${String(r.dropped).padStart(8)}`);
  }
}

if (process.argv[2] === '--receiver') void runReceiver(process.argv[3] as 'grpc' | 'http');
else main().catch((e) => { console.error(e); process.exit(1); });
