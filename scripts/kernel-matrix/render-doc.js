#!/usr/bin/env node
// Renders the generated part of docs/kernel-matrix.md from the files gen-doc.sh collects per kernel
// (probe-K.json: `tapio probe --json`; collectors-K.jsonl: load-collectors.js). Only the text between the
// BEGIN/END GENERATED markers is replaced; the rest of the document is hand-written.
//   render-doc.js OUT-DIR DOC.md LABEL...        e.g. render-doc.js /tmp/tapio-kernel-doc docs/kernel-matrix.md host 5.10 6.1 6.12
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { helperReason } = require(path.join(__dirname, '..', '..', 'dist', 'src', 'kernel', 'helper-probe'));

const BEGIN = '<!-- BEGIN GENERATED: scripts/kernel-matrix/gen-doc.sh; do not edit by hand -->';
const END = '<!-- END GENERATED -->';

function load(dir, label) {
  const probe = JSON.parse(fs.readFileSync(path.join(dir, `probe-${label}.json`), 'utf8'));
  const collectors = fs.readFileSync(path.join(dir, `collectors-${label}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { label, probe, collectors };
}

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const short = (s, n = 90) => { const t = esc(s); return t.length > n ? `${t.slice(0, n - 3)}...` : t; };
/** Helper ids the verifier names only by number on kernels that lack them. */
const HELPER_IDS = { 158: 'bpf_get_current_task_btf', 175: 'bpf_task_pt_regs', 181: 'bpf_loop', 184: 'bpf_get_func_ret' };
/** A reason without program names (so that hooks failing alike group together), helper ids named. */
const named = (reason) => reason.replace(/prog '[^']+': /g, '').replace(/attach \S+: /, 'attach: ')
  .replace(/tracepoint '[^']+'/, 'tracepoint')
  .replace(/unknown#(\d+)/g, (m, id) => (HELPER_IDS[id] ? `${m} (${HELPER_IDS[id]})` : m));
/** A column's name: the kernel release and the architecture it ran on (probes before the machine field: x86_64). */
const kernelName = (r) => `${r.label === 'host' ? 'host ' : ''}${r.probe.kernelRelease} (${r.probe.machine ?? 'x86_64'})`;
const row = (cells) => `| ${cells.join(' | ')} |`;
const table = (head, rows) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');

function render(runs) {
  const head = (first) => [first, ...runs.map(kernelName)];
  const out = [];
  out.push(`Generated ${new Date().toISOString().slice(0, 10)} from \`tapio probe --json\` and \`load-collectors.js\` on each kernel ` +
    '(`bash scripts/kernel-matrix/gen-doc.sh`). Each column is one kernel and its architecture (`uname -m`): ' +
    'x86_64 kernels boot with this machine\'s userspace, the aarch64 one under qemu-system-aarch64 with an arm64 userspace ' +
    'and the `npm run build:arm64` objects and addon.');

  out.push('\n### Program types (load + attach)\n');
  const kinds = Object.keys(runs[0].probe.programs);
  out.push(table(head('program type'), kinds.map((k) => [k, ...runs.map((r) => {
    const p = r.probe.programs[k];
    return !p ? '?' : p.available ? 'yes' : `**no**: ${short(named(helperReason(p.reason ?? '')), 70)}`;
  })])));

  out.push('\n### Helpers in tracing programs\n');
  const helpers = Object.keys(runs[0].probe.helpers ?? {});
  out.push(table(head('helper (since)'), helpers.map((h) => [`${h} (${runs[0].probe.helpers[h].since})`, ...runs.map((r) => {
    const p = r.probe.helpers?.[h];
    return !p ? '?' : p.available ? 'yes' : `**no**: ${short(named(p.reason ?? ''), 70)}`;
  })])));

  out.push('\n### Collectors and the implementation each hook uses\n');
  out.push('Each cell is the kind of program that attached (started for real, with the probe\'s unavailable kinds skipped, ' +
    'as `tapio run` does); **none** means no implementation of that hook works there, skipped that none was needed (reasons below). Hooks of one ' +
    'collector that behave alike on every kernel share a row. `(opt)`: an optional hook.\n');
  out.push(table(head('collector'), [
    ...[...new Set(runs.flatMap((r) => r.collectors.map((c) => c.collector)))].map((name) => [`**${name}**`, ...runs.map((r) => {
      const c = r.collectors.find((x) => x.collector === name);
      if (!c) return '?';
      if (!c.started) return `**failed**: ${short(c.error, 60)}`;
      const none = c.hooks.filter((h) => !h.chosen).length;
      return `${c.available ? 'available' : '**unavailable**'}${none ? ` (${c.hooks.length - none}/${c.hooks.length} hooks)` : ''}`;
    })]),
  ]));
  out.push('');
  const groups = [];
  for (const name of [...new Set(runs.flatMap((r) => r.collectors.map((c) => c.collector)))]) {
    const hookNames = [...new Set(runs.flatMap((r) => (r.collectors.find((c) => c.collector === name)?.hooks ?? []).map((h) => h.name)))];
    const byCells = new Map();
    for (const hn of hookNames) {
      let optional = false;
      const cells = runs.map((r) => {
        const h = r.collectors.find((c) => c.collector === name)?.hooks?.find((x) => x.name === hn);
        if (h?.optional) optional = true;
        if (!h) return '-';
        if (h.chosen) return h.chosen;
        return h.attempts.length > 0 && h.attempts.every((x) => x.stage === 'skipped') ? 'skipped' : '**none**';
      });
      const key = cells.join('\u0000');
      if (!byCells.has(key)) byCells.set(key, { cells, hooks: [] });
      byCells.get(key).hooks.push(`${hn}${optional ? ' (opt)' : ''}`);
    }
    for (const g of byCells.values()) groups.push([`${name}: ${g.hooks.length > 6 ? `${g.hooks.slice(0, 6).join(', ')} and ${g.hooks.length - 6} more` : g.hooks.join(', ')}`, ...g.cells]);
  }
  out.push(table(head('collector: hooks'), groups));

  out.push('\n### Why hooks are unavailable\n');
  out.push('Per kernel, the last attempt of each hook with no working implementation, grouped by reason (the verifier\'s or libbpf\'s words).\n');
  for (const r of runs) {
    const byReason = new Map();
    for (const c of r.collectors) for (const h of c.hooks ?? []) {
      if (h.chosen) continue;
      const a = h.attempts[h.attempts.length - 1];
      const reason = a ? `${a.kind} ${a.stage}: ${named(a.reason ?? helperReason(a.error))}` : 'not tried';
      if (!byReason.has(reason)) byReason.set(reason, []);
      byReason.get(reason).push(`${c.collector}/${h.name}`);
    }
    out.push(`- **${kernelName(r)}**: ${byReason.size === 0 ? 'every hook attached' : ''}`);
    for (const [reason, hooks] of byReason) {
      out.push(`  - ${short(reason, 160)}: ${hooks.length > 8 ? `${hooks.slice(0, 8).join(', ')} and ${hooks.length - 8} more` : hooks.join(', ')}`);
    }
  }
  return out.join('\n');
}

function main() {
  const [dir, doc, ...labels] = process.argv.slice(2);
  if (!dir || !doc || labels.length === 0) {
    process.stderr.write('usage: render-doc.js OUT-DIR DOC.md LABEL...\n');
    process.exit(2);
  }
  const runs = labels.map((l) => load(dir, l));
  const text = fs.readFileSync(doc, 'utf8');
  const block = `${BEGIN}\n${render(runs)}\n${END}`;
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + END.length) : `${text.trimEnd()}\n\n## Kernels × collectors (generated)\n\n${block}\n`;
  fs.writeFileSync(doc, next);
  process.stdout.write(`render-doc: ${doc} updated from ${labels.join(', ')}\n`);
}

main();
