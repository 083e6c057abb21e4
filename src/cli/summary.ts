// The summary `tapio run` prints on stderr on exit and with --stats: events per kind, drops per reason, hook modes.
import type { AgentStatus } from '../observe/sources';

export function formatSummary(s: AgentStatus): string {
  const lines: string[] = [];
  const kinds = Object.keys(s.pipeline.received).sort();
  lines.push(`tapio: ${s.uptimeSeconds}s on ${s.node}; events per kind (received / emitted):`);
  if (kinds.length === 0) lines.push('  (none)');
  for (const k of kinds) lines.push(`  ${k.padEnd(28)} ${String(s.pipeline.received[k]).padStart(10)} / ${s.pipeline.emitted[k] ?? 0}`);
  if (s.pipeline.filteredOut) lines.push(`  (${s.pipeline.filteredOut} filtered out by --events/--pid/--comm)`);
  lines.push('drops (stage kind reason: count):');
  if (s.drops.length === 0) lines.push('  none');
  for (const d of s.drops) lines.push(`  ${d.stage} ${d.kind} ${d.reason}: ${d.count}`);
  const counters = s.collectors.flatMap((c) => Object.entries(c.counters ?? {}).filter(([, v]) => v > 0).map(([k, v]) => `  ${c.name} ${k}: ${v}`));
  if (counters.length) lines.push('not losses, but worth knowing:', ...counters);
  lines.push('hooks:');
  for (const c of s.collectors) {
    for (const h of c.hooks) {
      const tried = h.attempts.map((a) => `${a.kind}: ${a.error.split('\n')[0]}`);
      lines.push(`  ${c.name}/${h.name}: ${h.chosen ? h.chosen.kind : 'UNAVAILABLE'}${tried.length ? `  (fell back past ${tried.join('; ')})` : ''}`);
    }
  }
  for (const f of s.failed) lines.push(`  ${f.name}: FAILED TO START: ${f.error}`);
  return lines.join('\n') + '\n';
}
