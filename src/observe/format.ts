// The /status document for a person: what `tapio status` prints. Failed programs come with the kernel's own words
// (the verifier log excerpt), indented under the hook they belong to.
import type { ObserveStatus } from './snapshot';
import { SYSCALL_TAX } from '../kernel/loader';

const VERIFIER_LINES = 12;

function duration(s: number): string {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${m}m` : m ? `${m}m${sec}s` : `${sec}s`;
}
const pct = (f: number) => `${(f * 100).toFixed(2)}%`;
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

function indentReason(error: string, prefix: string): string[] {
  const lines = error.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const shown = lines.length > VERIFIER_LINES ? [...lines.slice(0, 3), '...', ...lines.slice(-(VERIFIER_LINES - 4))] : lines;
  return shown.map((l) => `${prefix}${l}`);
}

export function formatStatus(s: ObserveStatus): string {
  const out: string[] = [];
  out.push(`tapio on ${s.node}: up ${duration(s.uptimeSeconds)} (since ${s.startedAt})${s.kernel ? `, kernel ${s.kernel.kernelRelease}` : ''}`);
  out.push(`ready: ${s.ready.ready ? 'yes' : 'NO'}`);
  for (const c of s.ready.checks) out.push(`  ${c.ready ? 'ok ' : 'NOT'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);

  const p = s.process;
  out.push(`resources: CPU ${pct(p.cpuFraction)} of the node${p.budget ? ` (budget ${pct(p.budget.cpuFraction)})` : ''}, ` +
    `RSS ${mib(p.rssBytes)}${p.budget ? ` (budget ${mib(p.budget.memoryBytes)})` : ''}` +
    `${p.overBudget.cpu || p.overBudget.memory ? '  OVER BUDGET' : ''}`);

  out.push('collectors:');
  if (s.collectors.length === 0 && s.failed.length === 0) out.push('  (none)');
  for (const c of s.collectors) {
    out.push(`  ${c.name}: ${c.available ? 'up' : 'DOWN'}`);
    for (const h of c.hooks) {
      const prog = s.programs.find((r) => r.collector === c.name && r.hook === h.name);
      const runs = prog && s.runStats.enabled && prog.runCount > 0
        ? `  ${prog.runCount} runs, ${(prog.runTimeNs / prog.runCount).toFixed(0)} ns avg` : '';
      out.push(`    ${h.name}${h.optional ? ' (optional)' : ''}: ${h.chosen ? `${h.chosen.kind} (${h.chosen.program})${runs}` : 'UNAVAILABLE'}` +
        `${h.chosen?.syscallTracepoint ? `  [${SYSCALL_TAX}]` : ''}`);
      for (const a of h.attempts) {
        out.push(`      ${h.chosen ? 'fell back past' : 'failed'}: ${a.kind} ${a.program} (${a.stage}):`);
        out.push(...indentReason(a.error, '        '));
      }
    }
    for (const f of c.programFailures) {
      out.push(`    program ${f.program} failed to load:`);
      out.push(...indentReason(f.error, '        '));
    }
  }
  for (const f of s.failed) {
    out.push(`  ${f.name}: FAILED TO START`);
    out.push(...indentReason(f.error, '      '));
  }

  const kinds = [...new Set([...Object.keys(s.pipeline.received), ...Object.keys(s.pipeline.emitted)])].sort();
  out.push('events (received / emitted):');
  if (kinds.length === 0) out.push('  (none yet)');
  for (const k of kinds) out.push(`  ${k.padEnd(28)} ${String(s.pipeline.received[k] ?? 0).padStart(12)} / ${s.pipeline.emitted[k] ?? 0}`);
  out.push('drops (stage kind reason: count):');
  if (s.drops.length === 0) out.push('  none');
  for (const d of s.drops) out.push(`  ${d.stage} ${d.kind} ${d.reason}: ${d.count}`);

  if (s.rings.length) {
    out.push('ring readers (records, queue now/peak, stalled):');
    for (const r of s.rings) out.push(`  ${r.collector}/${r.ring}: ${r.records}, ${r.queueDepth}/${r.queueHighWater}, ${r.stalledMs} ms${r.pollErrors ? `, ${r.pollErrors} poll errors` : ''}`);
  }
  const filled = s.maps.filter((m) => m.entries !== undefined);
  if (filled.length) {
    out.push('maps (entries / capacity):');
    for (const m of filled) out.push(`  ${m.collector}/${m.map}: ${m.entries} / ${m.maxEntries}${m.entries! >= m.maxEntries ? '  FULL' : ''}`);
  }
  if (s.exporters.length) {
    out.push('exporters:');
    for (const e of s.exporters) {
      out.push(`  ${e.name}: ${e.failing ? 'FAILING' : 'ok'}, sent ${e.sentRecords}, queued ${e.queuedRecords} (${mib(e.queuedBytes)}), spool ${mib(e.spoolBytes)}, ` +
        `${e.failedAttempts} failed attempts${e.lastError ? `; last error: ${e.lastError.split('\n')[0]}` : ''}`);
    }
  }
  if (s.adaptive) {
    const a = s.adaptive;
    const sampled = Object.entries(a.sampleEvery).filter(([, n]) => n > 1);
    out.push(`sampling: ${sampled.length ? sampled.map(([k, n]) => `${k} 1/${n}`).join(', ') : 'everything kept'}` +
      ` (${a.decisions.lower} lowered, ${a.decisions.raise} raised)`);
    for (const d of a.recent.slice(-3)) out.push(`  ${d.at} ${d.direction}: ${d.reason}`);
  }
  if (s.config) {
    const c = s.config;
    out.push(`config: ${c.file} (${c.hash}): ${c.counts.applied} reloads applied, ${c.counts.rejected} rejected, ${c.counts.unchanged} unchanged`);
    if (c.last) {
      out.push(`  last reload ${c.last.at}: ${c.last.result === 'rejected' ? `REJECTED (old config still in force): ${c.last.error ?? ''}`
        : `${c.last.result}${c.last.applied?.length ? `: ${c.last.applied.join(', ')}` : ''}`}`);
    }
    if (c.needsRestart.length) out.push(`  changed, needs a restart (old value in use): ${c.needsRestart.join(', ')}`);
  }
  const b = s.limits.buckets;
  if (b.created > 0 || s.limits.topCgroups.length) {
    out.push(`rate limit buckets: ${b.live} live, ${b.evicted} evicted${b.insertFailed ? `, ${b.insertFailed} events let through (no room)` : ''}`);
    for (const c of s.limits.topCgroups.slice(0, 10)) {
      out.push(`  cgroup ${c.cgroupId} ${c.kind}: ${c.admitted} admitted, ${c.rateLimited} rate limited, ${c.sampled} sampled`);
    }
  }
  return out.join('\n') + '\n';
}
