// Helper availability for the probe: which BPF helpers this kernel lets tracing programs call, found by loading one
// tiny tp_btf program per helper (bpf/probe.bpf.c; task storage in its own object, bpf/probe_task_storage.bpf.c,
// because kernels without it refuse the map and with it the whole object). Programs that need a helper this kernel
// lacks fail in the loader with the verifier's words; the reasons here say which helper and since when.
import { loadCollector, type HookSpec, type HookStatus } from './loader';
import type { Transport } from './transport';

export interface HelperResult {
  available: boolean;
  /** The first kernel version that offers the helper to tracing programs (for the reader; never used to decide). */
  since: string;
  /** Why not: the verifier's (or libbpf's) line that says so. */
  reason?: string;
}

/** The helpers the collectors use that older kernels lack, by the probe program that calls each. */
export const HELPER_PROBES: { helper: string; program: string; since: string }[] = [
  { helper: 'bpf_loop', program: 'probe_helper_loop', since: '5.17' },
  { helper: 'bpf_task_pt_regs', program: 'probe_helper_task_pt_regs', since: '5.15' },
  { helper: 'bpf_get_current_task_btf', program: 'probe_helper_current_task_btf', since: '5.11' },
  { helper: 'bpf_ringbuf_reserve', program: 'probe_helper_ringbuf_reserve', since: '5.8' },
  { helper: 'bpf_ringbuf_output', program: 'probe_helper_ringbuf_output', since: '5.8' },
];
const TASK_STORAGE = { helper: 'bpf_task_storage_get', program: 'probe_helper_task_storage', since: '5.11' };

const HOOK_PREFIX = 'helper:';

/** Hooks for the probe object, one per helper; `helperResults` reads them back. */
export function helperHooks(): HookSpec[] {
  return HELPER_PROBES.map((h) => ({
    name: `${HOOK_PREFIX}${h.helper}`,
    optional: true,
    implementations: [{ kind: 'tp_btf', program: h.program }],
  }));
}

export function isHelperHook(name: string): boolean {
  return name.startsWith(HOOK_PREFIX);
}

/**
 * The line of a loader error that says why: the verifier's "unknown func"/"invalid func" line, or a libbpf line
 * about a map or BTF, else the first line.
 */
export function helperReason(error: string): string {
  const lines = error.split('\n').map((l) => l.trim()).filter(Boolean);
  // The verifier's last words before its summary ("processed N insns"), when it printed a register state dump.
  const summary = lines.findIndex((l) => /^processed \d+ insns|^verification time/.test(l));
  const lastWords = summary > 0 ? lines.slice(0, summary).reverse().find((l) => !/^(\d+: )?(frame\d+: )?R\d|^;|^\d+: \(|^last_idx|^regs=|^parent|^from \d+ to/.test(l)) : undefined;
  const pick = lines.find((l) => /unknown func|invalid func|program of this type cannot use helper|unrecognized bpf_ld_imm64|pseudo func|func_info doesn't match|uses reserved fields/i.test(l))
    ?? lines.find((l) => /map '.*(fail|error)|failed to create map|needs the kernel's own BTF|failed to find kernel BTF type|failed to determine tracepoint/i.test(l))
    ?? lastWords
    ?? lines.find((l) => /Invalid argument|not supported/i.test(l))
    ?? lines[0] ?? 'load failed';
  return pick.length > 300 ? `${pick.slice(0, 300)}...` : pick;
}

function resultOf(status: HookStatus | undefined, since: string): HelperResult {
  if (status?.chosen) return { available: true, since };
  const a = status?.attempts[status.attempts.length - 1];
  return { available: false, since, reason: a ? `${a.stage}: ${helperReason(a.error)}` : 'not tried' };
}

/** Helper results from the probe object's hooks (those named by `helperHooks`). */
export function helperResults(hooks: readonly HookStatus[]): Record<string, HelperResult> {
  const out: Record<string, HelperResult> = {};
  for (const h of HELPER_PROBES) out[h.helper] = resultOf(hooks.find((s) => s.name === `${HOOK_PREFIX}${h.helper}`), h.since);
  return out;
}

/** Task local storage from tracing programs: its own object, since a kernel without it refuses the map. */
export async function probeTaskStorage(opts: { transport: Transport; btfPath?: string }): Promise<HelperResult> {
  const hook: HookSpec = { name: TASK_STORAGE.helper, optional: true, implementations: [{ kind: 'tp_btf', program: TASK_STORAGE.program }] };
  try {
    const loaded = await loadCollector({ name: 'tapio_probe_ts', object: 'probe_task_storage.bpf.o', hooks: [hook] },
      { retries: 1, transport: opts.transport, btfPath: opts.btfPath });
    try {
      return resultOf(loaded.hooks[0], TASK_STORAGE.since);
    } finally {
      await loaded.close();
    }
  } catch (e) {
    return { available: false, since: TASK_STORAGE.since, reason: helperReason((e as Error).message) };
  }
}
