// `tapio probe [--json]`: what this kernel can do, found by loading and attaching real programs, and which mode
// each collector would run in here.
import { parseArgs } from 'node:util';
import { probeKernel, plannedModes, type KernelFeatures } from '../kernel/features';
import { SYSCALL_TAX } from '../kernel/loader';
import { COLLECTORS } from '../collectors';
import { parseConfig } from '../config/load';

export async function runProbe(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  if (process.getuid?.() !== 0) {
    process.stderr.write('tapio probe: needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load BPF programs\n');
    return 1;
  }
  const features = await probeKernel();
  const config = parseConfig('');
  const collectors = COLLECTORS.map((c) => ({
    collector: c.name,
    hooks: plannedModes(features, c.hooks(config)),
  }));
  const report = { ...features, collectors };
  if (values.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(formatProbe(features, collectors));
  return 0;
}

function line(name: string, ok: boolean, text = ''): string {
  return `  ${ok ? 'yes' : 'NO '}  ${name.padEnd(16)} ${text}\n`;
}

function firstLine(s?: string): string {
  return (s ?? '').split('\n')[0];
}

export function formatProbe(f: KernelFeatures, collectors: { collector: string; hooks: ReturnType<typeof plannedModes> }[]): string {
  let out = `Kernel ${f.kernelRelease}${f.machine ? ` (${f.machine})` : ''}, libbpf ${f.libbpfVersion}\n\nFeatures:\n`;
  out += line('BTF', f.btf.available, f.btf.detail ?? firstLine(f.btf.reason));
  out += line('ring buffer', f.ringBuffer.available, firstLine(f.ringBuffer.reason));
  out += `  ->   ${'transport'.padEnd(16)} ${f.transport.transport} (${f.transport.reason})\n`;
  out += line('tracefs', f.tracefs.available, f.tracefs.detail ?? firstLine(f.tracefs.reason));
  out += line('bpf_stats', f.bpfStats.available, firstLine(f.bpfStats.reason));
  out += `  cgroups: ${f.cgroups.layout}${f.cgroups.v2Mount ? ` (cgroup2 at ${f.cgroups.v2Mount})` : ''}` +
    `${f.cgroups.v1Controllers.length ? `, v1: ${f.cgroups.v1Controllers.join(',')}` : ''}\n\nProgram types (load + attach):\n`;
  for (const [kind, r] of Object.entries(f.programs)) {
    out += line(kind, r.available, r.state === 'inconclusive' ? `inconclusive (hooks on other targets still try it): ${firstLine(r.reason)}` : firstLine(r.reason));
  }
  out += '\nHelpers (in tracing programs):\n';
  for (const [helper, r] of Object.entries(f.helpers ?? {})) {
    out += `  ${r.available ? 'yes' : 'NO '}  ${helper.padEnd(26)} ${r.available ? '' : `(since ${r.since}) ${firstLine(r.reason)}`}\n`;
  }
  out += '\nCollectors:\n';
  for (const c of collectors) {
    for (const h of c.hooks) {
      out += `  ${c.collector.padEnd(10)} ${h.hook.padEnd(22)} ${h.notNeeded ? 'not needed' : h.mode ?? 'UNAVAILABLE'}` +
        `${h.skipped.length ? `  (not: ${h.skipped.join(', ')})` : ''}` +
        `${h.syscallTracepoint ? `  [${SYSCALL_TAX}]` : ''}\n`;
    }
  }
  return out;
}
