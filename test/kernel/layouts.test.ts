// The one check that C and TypeScript agree on every shared layout: src/kernel/layouts.generated.ts must be exactly
// what scripts/gen-layouts.js makes from the BTF of the layout anchor (bpf/testing/layouts.bpf.c, built by
// `make -C bpf`). Edit a struct, enum or flag in bpf/include without regenerating and the first test fails with the
// lines that differ. The other tests prove that check can fail, that the anchor matches the real programs, and that
// the names TypeScript gives to kernel numbers cover every kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readBtfTypes, structLayout, type BtfType } from '../../src/kernel/btf-layout';
import { ANCHOR_OBJECT, GENERATED_FILE, anchoredTypes, layoutDiff, renderLayouts } from '../../src/kernel/layout-gen';
import { ENUMS, STRUCTS } from '../../src/kernel/layouts.generated';
import { KIND_NAMES, kindName, reasonName } from '../../src/kernel/drops';

const ROOT = path.join(__dirname, '..', '..', '..');
const ANCHOR = path.join(ROOT, ANCHOR_OBJECT);
const committed = () => fs.readFileSync(path.join(ROOT, GENERATED_FILE), 'utf8');

/** A deep copy, so a test can change BTF without touching what the others read. */
const anchorTypes = (): Map<number, BtfType> => new Map([...readBtfTypes(ANCHOR)].map(([id, t]) => [id, structuredClone(t)]));
const findType = (types: Map<number, BtfType>, kind: string, name: string) =>
  [...types.values()].find((t) => t.kind === kind && t.name === name)!;

test('the committed layouts are what the BTF of the anchor object says', () => {
  const diff = layoutDiff(committed(), renderLayouts(readBtfTypes(ANCHOR)));
  assert.deepEqual(diff, [], `${GENERATED_FILE} is stale: run \`npm run gen:layouts\` and commit it.\n${diff.join('\n')}`);
});

test('a moved field, a new field, a resized struct and a changed flag are each reported by name', () => {
  const types = anchorTypes();
  const tcp = findType(types, 'STRUCT', 'tcp_record');
  tcp.members!.find((m) => m.name === 'flags')!.bits_offset += 8; // `flags` one byte later
  const exit = findType(types, 'STRUCT', 'proc_exit_record');
  exit.size! += 8;
  exit.members!.push({ name: 'added', type_id: exit.members!.find((m) => m.name === 'ppid')!.type_id, bits_offset: 64 * 8 });
  const flags = findType(types, 'ENUM', 'tcp_flag');
  flags.values!.find((v) => v.name === 'TCP_FLAG_RESET_SENT')!.val = 64;

  const diff = layoutDiff(committed(), renderLayouts(types));
  const text = diff.join('\n');
  assert.match(text, /- committed: tcp_record: flags: \{ offset: 75, size: 1 \}/, text);
  assert.match(text, /\+ from BTF: tcp_record: flags: \{ offset: 76, size: 1 \}/, text);
  assert.match(text, /\+ from BTF: proc_exit_record: size: 72,/, text);
  assert.match(text, /\+ from BTF: proc_exit_record: added: \{ offset: 64, size: 4 \}/, text);
  assert.match(text, /\+ from BTF: enum tcp_flag: export const TCP_FLAG_RESET_SENT = 64;/, text);
  assert.deepEqual(layoutDiff(committed(), committed()), []);
});

test('the anchor refuses what it cannot describe plainly', () => {
  const types = anchorTypes();
  const v = [...types.values()].find((t) => t.kind === 'VAR' && t.name === 'layout_tcp_flag')!;
  v.type_id = findType(types, 'STRUCT', 'tcp_record').id; // now tcp_record is anchored twice
  assert.throws(() => anchoredTypes(types), /struct tcp_record is anchored twice/);
  const bitfield = anchorTypes();
  findType(bitfield, 'STRUCT', 'tcp_conn').members![0].bitfield_size = 3;
  assert.throws(() => renderLayouts(bitfield), /tcp_conn: member start_ns is a bitfield/);
});

test('each shared struct the real programs carry in their BTF has the anchor\'s layout', () => {
  const objects = ['process.bpf.o', 'network.bpf.o', 'cgroup.bpf.o', 'testing/limits_test.bpf.o'];
  const compared = new Set<string>();
  for (const o of objects) {
    const types = readBtfTypes(path.join(ROOT, 'bpf', '.output', o));
    for (const [name, want] of Object.entries(STRUCTS)) {
      const got = structLayout(types, name);
      if (!got) continue;
      assert.deepEqual(got, { name, size: want.size, fields: want.fields }, `struct ${name} in ${o}`);
      compared.add(name);
    }
  }
  // The map keys and values are in every object that uses them, so the comparison above is never empty.
  for (const name of ['tapio_kind_limit', 'tapio_limit_key', 'tapio_limit_state', 'tcp_conn']) assert.ok(compared.has(name), name);
});

test('every event kind in enum tapio_kind has an event name, and drop reasons keep their metric names', () => {
  const kinds = Object.entries(ENUMS.tapio_kind).filter(([c]) => c !== 'TAPIO_KIND_NONE' && c !== 'TAPIO_KIND_MAX');
  assert.deepEqual(Object.keys(KIND_NAMES).map(Number).sort((a, b) => a - b), kinds.map(([, v]) => v).sort((a, b) => a - b));
  assert.equal(kindName(ENUMS.tapio_kind.TAPIO_KIND_PROC_FORK), 'process.fork');
  // These names are labels of tapio_dropped_events_total: dashboards and alerts use them.
  const reasons = Object.values(ENUMS.tapio_drop_reason).filter((v) => v !== ENUMS.tapio_drop_reason.TAPIO_DROP_REASON_MAX);
  assert.deepEqual(reasons.map(reasonName), ['ringbuf_full', 'sampled', 'rate_limited', 'map_full', 'read_failed', 'evicted']);
});

test('a missing object file gives an error that names it', () => {
  assert.throws(() => readBtfTypes('/nonexistent/x.bpf.o'), /cannot read BTF of \/nonexistent\/x\.bpf\.o/);
});
