// The agent's own Prometheus metrics (prom-client), all read from the same status document /status serves. Values
// whose source of truth lives elsewhere (pipeline counts, kernel counters) are copied in at scrape time. Label
// values are bounded: collectors, hooks, programs, maps, kinds, reasons, exporters; never cgroups or flows.
import { Counter, Gauge, type Registry, collectDefaultMetrics } from 'prom-client';
import type { ObserveStatus } from './snapshot';

type Labels = Record<string, string>;
type Row = [Labels, number];

/** Every metric the agent exports (besides prom-client's process_* and nodejs_* defaults); the alert test uses it. */
export const METRIC_NAMES = [
  'tapio_ready', 'tapio_events_received_total', 'tapio_events_emitted_total', 'tapio_events_filtered_total',
  'tapio_events_dropped_total', 'tapio_collector_up', 'tapio_collector_counter_total', 'tapio_hook_attached', 'tapio_hook_attempt_failed',
  'tapio_bpf_program_run_seconds_total', 'tapio_bpf_program_runs_total', 'tapio_bpf_run_stats_enabled',
  'tapio_bpf_map_entries', 'tapio_bpf_map_max_entries', 'tapio_bpf_map_memory_bytes',
  'tapio_ring_records_total', 'tapio_ring_bytes_total', 'tapio_ring_queue_batches', 'tapio_ring_queue_high_water',
  'tapio_ring_stalled_seconds_total', 'tapio_ring_poll_errors_total',
  'tapio_exporter_queue_records', 'tapio_exporter_spool_bytes', 'tapio_exporter_sent_records_total',
  'tapio_exporter_failed_attempts_total', 'tapio_exporter_failing',
  'tapio_sampling_keep_one_in', 'tapio_adaptive_decisions_total', 'tapio_over_budget',
  'tapio_cpu_ratio', 'tapio_budget_cpu_ratio', 'tapio_budget_memory_bytes',
  'tapio_limits_buckets', 'tapio_limits_buckets_evicted_total', 'tapio_limits_bucket_insert_failures_total',
  'tapio_config_reloads_total', 'tapio_config_needs_restart',
  'tapio_security_events_total',
] as const;

/** First line of an error, short enough for a label. */
function shortError(e: string): string {
  const line = e.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

export function createMetrics(registry: Registry, status: () => ObserveStatus): void {
  // process_cpu_seconds_total, process_resident_memory_bytes, ... The event-loop delay histogram samples once a
  // second, not prom-client's 10 ms: its timer wakes the main thread at that rate, 100 times a second at 10 ms (~0.2%
  // of a 2-core node), 10 at 100 ms (a quarter of an idle agent's wake-ups). A stall of a second or more is always
  // seen; a shorter one with the odds of falling on a sample (nodejs_eventloop_lag_seconds, measured at each
  // scrape, is the other view). The histogram is reset at each scrape: 15-60 samples between two of them.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });

  const gauge = (name: string, help: string, labelNames: string[], rows: (s: ObserveStatus) => Row[]) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [l, v] of rows(status())) this.set(l, v);
    } });
  const counter = (name: string, help: string, labelNames: string[], rows: (s: ObserveStatus) => Row[]) =>
    new Counter({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [l, v] of rows(status())) if (v >= 0) this.inc(l, v);
    } });

  gauge('tapio_ready', '1 when /readyz answers ready', [], (s) => [[{}, s.ready.ready ? 1 : 0]]);
  counter('tapio_events_received_total', 'Events decoded from the kernel and handed to the pipeline', ['kind'],
    (s) => Object.entries(s.pipeline.received).map(([kind, n]) => [{ kind }, n]));
  counter('tapio_events_emitted_total', 'Events handed to the sinks (exporters)', ['kind'],
    (s) => Object.entries(s.pipeline.emitted).map(([kind, n]) => [{ kind }, n]));
  counter('tapio_events_filtered_total', 'Events left out on purpose by --events/--pid/--comm filters', [],
    (s) => [[{}, s.pipeline.filteredOut]]);
  counter('tapio_events_dropped_total', 'Events lost or left out, per stage, kind and reason (sampled and rate_limited are on purpose)',
    ['stage', 'kind', 'reason'], (s) => s.drops.map((d) => [{ stage: d.stage, kind: d.kind, reason: d.reason }, d.count]));
  counter('tapio_security_events_total', 'Security events sent, per detection, severity, namespace and workload (past limits.cardinality.topK series: namespace and workload "other")',
    ['detection', 'severity', 'k8s_namespace', 'workload_kind', 'workload'], (s) => (s.security?.events ?? []).map((r) => [
      { detection: r.detection, severity: r.severity, k8s_namespace: r.namespace, workload_kind: r.workloadKind, workload: r.workload }, r.count]));

  gauge('tapio_collector_up', '1 when every required hook of the collector is attached', ['collector'], (s) => [
    ...s.collectors.map((c): Row => [{ collector: c.name }, c.available ? 1 : 0]),
    ...s.failed.map((f): Row => [{ collector: f.name }, 0]),
  ]);
  counter('tapio_collector_counter_total', 'Collector counters that are not losses: process table evictions, connections whose owner is unknown, ...',
    ['collector', 'counter'], (s) => s.collectors.flatMap((c) => Object.entries(c.counters ?? {}).map(([k, v]): Row => [{ collector: c.name, counter: k }, v])));
  gauge('tapio_hook_attached', '1 for the implementation a hook runs with; 0 with implementation="none" when none works',
    ['collector', 'hook', 'implementation', 'program'], (s) => s.collectors.flatMap((c) => c.hooks.map((h): Row =>
      [{ collector: c.name, hook: h.name, implementation: h.chosen?.kind ?? 'none', program: h.chosen?.program ?? '' }, h.chosen ? 1 : 0])));
  gauge('tapio_hook_attempt_failed', 'Implementations that failed to load or attach (or programs outside hooks), with the first line of the reason',
    ['collector', 'hook', 'implementation', 'program', 'stage', 'error'], (s) => s.collectors.flatMap((c) => [
      ...c.hooks.flatMap((h) => h.attempts.map((a): Row =>
        [{ collector: c.name, hook: h.name, implementation: a.kind, program: a.program, stage: a.stage, error: shortError(a.error) }, 1])),
      ...c.programFailures.map((p): Row =>
        [{ collector: c.name, hook: '', implementation: '', program: p.program, stage: 'load', error: shortError(p.error) }, 1]),
    ]));

  const prog = (p: ObserveStatus['programs'][number]) => ({ collector: p.collector, hook: p.hook, program: p.program });
  counter('tapio_bpf_program_run_seconds_total', 'Time the kernel spent running the program (needs run stats)', ['collector', 'hook', 'program'],
    (s) => s.programs.map((p) => [prog(p), p.runTimeNs / 1e9]));
  counter('tapio_bpf_program_runs_total', 'Times the kernel ran the program (needs run stats)', ['collector', 'hook', 'program'],
    (s) => s.programs.map((p) => [prog(p), p.runCount]));
  gauge('tapio_bpf_run_stats_enabled', '1 while the kernel accounts BPF program run time for us', [], (s) => [[{}, s.runStats.enabled ? 1 : 0]]);

  const map = (m: ObserveStatus['maps'][number]) => ({ collector: m.collector, map: m.map });
  gauge('tapio_bpf_map_entries', 'Entries in use in hash and LRU maps', ['collector', 'map'],
    (s) => s.maps.filter((m) => m.entries !== undefined).map((m) => [map(m), m.entries!]));
  gauge('tapio_bpf_map_max_entries', 'Capacity of each map (ring buffers: bytes)', ['collector', 'map'], (s) => s.maps.map((m) => [map(m), m.maxEntries]));
  gauge('tapio_bpf_map_memory_bytes', 'Estimated kernel memory of each map', ['collector', 'map'], (s) => s.maps.map((m) => [map(m), m.memoryBytes]));

  const ring = (r: ObserveStatus['rings'][number]) => ({ collector: r.collector, ring: r.ring });
  counter('tapio_ring_records_total', 'Records read from the ring buffer', ['collector', 'ring'], (s) => s.rings.map((r) => [ring(r), r.records]));
  counter('tapio_ring_bytes_total', 'Bytes read from the ring buffer', ['collector', 'ring'], (s) => s.rings.map((r) => [ring(r), r.bytes]));
  gauge('tapio_ring_queue_batches', 'Batches waiting for JavaScript (past the limit the kernel ring fills and counts drops)', ['collector', 'ring'],
    (s) => s.rings.map((r) => [ring(r), r.queueDepth]));
  gauge('tapio_ring_queue_high_water', 'Most batches ever waiting for JavaScript', ['collector', 'ring'], (s) => s.rings.map((r) => [ring(r), r.queueHighWater]));
  counter('tapio_ring_stalled_seconds_total', 'Time the reader thread waited for JavaScript', ['collector', 'ring'],
    (s) => s.rings.map((r) => [ring(r), r.stalledMs / 1000]));
  counter('tapio_ring_poll_errors_total', 'Ring buffer poll errors', ['collector', 'ring'], (s) => s.rings.map((r) => [ring(r), r.pollErrors]));

  const ex = (name: string) => ({ exporter: name });
  gauge('tapio_exporter_queue_records', 'Records waiting in memory to be exported', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.queuedRecords]));
  gauge('tapio_exporter_queue_bytes', 'Bytes of encoded records the exporter holds in memory', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.queuedBytes]));
  gauge('tapio_exporter_spool_bytes', 'Bytes in the exporter spool on disk', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.spoolBytes]));
  counter('tapio_exporter_sent_records_total', 'Records the exporter delivered', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.sentRecords]));
  counter('tapio_exporter_failed_attempts_total', 'Export attempts that failed', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.failedAttempts]));
  gauge('tapio_exporter_failing', '1 while the exporter cannot deliver (retrying)', ['exporter'], (s) => s.exporters.map((e) => [ex(e.name), e.failing ? 1 : 0]));

  gauge('tapio_sampling_keep_one_in', 'Current sampling per event kind: 1 of N events is kept', ['kind'],
    (s) => Object.entries(s.adaptive?.sampleEvery ?? {}).map(([kind, n]) => [{ kind }, n]));
  counter('tapio_adaptive_decisions_total', 'Adaptive controller steps: lower (sample more) or raise (sample less)', ['direction'],
    (s) => s.adaptive ? [[{ direction: 'lower' }, s.adaptive.decisions.lower], [{ direction: 'raise' }, s.adaptive.decisions.raise]] : []);
  gauge('tapio_over_budget', '1 while the agent uses more than its budget of the resource', ['resource'],
    (s) => [[{ resource: 'cpu' }, s.process.overBudget.cpu ? 1 : 0], [{ resource: 'memory' }, s.process.overBudget.memory ? 1 : 0]]);
  gauge('tapio_cpu_ratio', "The agent's CPU use as a share of the whole node (all cores)", [], (s) => [[{}, s.process.cpuFraction]]);
  gauge('tapio_budget_cpu_ratio', 'CPU budget, share of the whole node', [], (s) => s.process.budget ? [[{}, s.process.budget.cpuFraction]] : []);
  gauge('tapio_budget_memory_bytes', 'Resident memory budget', [], (s) => s.process.budget ? [[{}, s.process.budget.memoryBytes]] : []);

  gauge('tapio_limits_buckets', 'Per-(cgroup, kind) rate limit buckets live in the kernel', [], (s) => [[{}, s.limits.buckets.live]]);
  counter('tapio_limits_buckets_evicted_total', 'Buckets the kernel LRU map evicted to make room', [], (s) => [[{}, s.limits.buckets.evicted]]);
  counter('tapio_limits_bucket_insert_failures_total', 'Events let through unlimited because no bucket could be made', [],
    (s) => [[{}, s.limits.buckets.insertFailed]]);

  counter('tapio_config_reloads_total', 'Config file re-reads: applied (a new config took effect), rejected (invalid, the old one stays), unchanged',
    ['result'], (s) => s.config ? Object.entries(s.config.counts).map(([result, n]): Row => [{ result }, n]) : []);
  gauge('tapio_config_needs_restart', 'Config keys changed in the file that only take effect after a restart', [],
    (s) => s.config ? [[{}, s.config.needsRestart.length]] : []);
}
