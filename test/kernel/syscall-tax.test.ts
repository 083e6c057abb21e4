// A hook that can only be a syscall tracepoint taxes every syscall on the node; `tapio probe` and `tapio status` say
// so next to it. Here: the network collector's accept attribution planned on two kernels described as probe results
// (one with tp_btf, like this machine, one without), through the real plan and the real probe formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkCollectorSpec } from '../../src/collectors/network';
import { formatProbe } from '../../src/cli/probe';
import { plannedModes, type KernelFeatures } from '../../src/kernel/features';
import { SYSCALL_TAX } from '../../src/kernel/loader';

function kernel(missing: string[]): KernelFeatures {
  const ok = { available: true };
  const kinds = ['tracepoint', 'raw_tracepoint', 'tp_btf', 'fentry', 'fexit', 'kprobe', 'kretprobe'];
  return {
    kernelRelease: 'described', libbpfVersion: '1.x', btf: ok, ringBuffer: ok, tracefs: ok, bpfStats: ok,
    cgroups: { layout: 'v2', v1Controllers: [] }, transport: { transport: 'ringbuf', reason: 'the kernel has the BPF ring buffer' },
    programs: Object.fromEntries(kinds.map((k) => [k, missing.includes(k) ? { available: false, reason: 'not on this kernel' } : ok])),
  } as unknown as KernelFeatures;
}

const hooks = networkCollectorSpec({ ringBufferBytes: 4096, connectionTableSize: 128 }).hooks;

test('with tp_btf, accept is attributed from the TCP state machine and nothing warns of a syscall tax', () => {
  const plan = plannedModes(kernel(['fentry', 'fexit', 'kprobe', 'kretprobe']), hooks);
  const accept = plan.find((h) => h.hook === 'accept')!;
  assert.equal(accept.mode, 'tp_btf');
  assert.ok(!formatProbe(kernel(['fexit', 'kretprobe']), [{ collector: 'network', hooks: plan }]).includes(SYSCALL_TAX));
});

test('without tp_btf, the accept hook falls back to a syscall tracepoint and probe says what that costs', () => {
  const k = kernel(['fentry', 'fexit', 'kprobe', 'kretprobe', 'tp_btf']);
  const plan = plannedModes(k, hooks);
  const accept = plan.find((h) => h.hook === 'accept')!;
  assert.equal(accept.mode, 'tracepoint');
  assert.equal(accept.syscallTracepoint, true);
  const line = formatProbe(k, [{ collector: 'network', hooks: plan }]).split('\n').find((l) => / accept /.test(l))!;
  assert.ok(line.includes(SYSCALL_TAX), line);
});
