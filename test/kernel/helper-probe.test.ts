// Helper availability in `tapio probe`: found by loading one tp_btf program per helper. On this host (6.18) every
// helper the collectors use is there, and `tapio probe --json` and its text output say so; the reason extractor
// picks the verifier's line out of a loader error. The matrix test (matrix.test.ts) checks 5.10 reports bpf_loop
// and bpf_task_pt_regs unavailable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { helperReason, HELPER_PROBES } from '../../src/kernel/helper-probe';

const ROOT = path.join(__dirname, '..', '..', '..');
const ALL = ['bpf_loop', 'bpf_task_pt_regs', 'bpf_get_current_task_btf', 'bpf_ringbuf_reserve', 'bpf_ringbuf_output', 'bpf_task_storage_get'];

test('the reason is the verifier\'s line about the helper, else a map error, else the first line', () => {
  const log = "prog 'probe_helper_task_pt_regs': BPF program load failed: Invalid argument\n0: (85) call unknown#175\ninvalid func unknown#175\nprocessed 2 insns";
  assert.equal(helperReason(log), 'invalid func unknown#175');
  const map = "load BPF object: Invalid argument (errno 22)\nlibbpf: map 'probe_task_storage': failed to create: Invalid argument(-22)";
  assert.equal(helperReason(map), "libbpf: map 'probe_task_storage': failed to create: Invalid argument(-22)");
  assert.equal(helperReason('something odd\nmore'), 'something odd');
  assert.equal(helperReason(''), 'load failed');
});

test('on this kernel `tapio probe` reports every helper the collectors use as available, in JSON and text', needsRoot, () => {
  const json = spawnSync('node', ['bin/tapio.js', 'probe', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(json.status, 0, json.stderr);
  const p = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(p.helpers).sort(), [...ALL].sort());
  for (const h of ALL) assert.equal(p.helpers[h].available, true, `${h}: ${p.helpers[h].reason}`);
  assert.equal(HELPER_PROBES.length + 1, ALL.length);

  const text = spawnSync('node', ['bin/tapio.js', 'probe'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(text.status, 0, text.stderr);
  const section = text.stdout.split('Helpers (in tracing programs):\n')[1]?.split('\n\n')[0] ?? '';
  for (const h of ALL) assert.match(section, new RegExp(`^  yes  ${h} `, 'm'), `${h} in:\n${section}`);
});
