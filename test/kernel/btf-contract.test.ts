// The C headers in bpf/include are the one source of truth. The names TypeScript gives to drop reasons and event
// kinds, and the record header layout every decoder reads, are checked against the BTF of a compiled object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { checkLayouts, readBtfTypes } from '../../src/kernel/btf-layout';
import { KERNEL_DROP_REASONS, KIND_NAMES, DROP_REASON_SLOTS, KIND_SLOTS } from '../../src/kernel/drops';
import { HEADER_FIELDS, HEADER_SIZE } from '../../src/collectors/record-header';

const OBJ = path.join(__dirname, '..', '..', '..', 'bpf', '.output', 'testing', 'spine_test.bpf.o');

function enumValues(name: string): Map<string, number> {
  const t = [...readBtfTypes(OBJ).values()].find((x) => x.kind === 'ENUM' && x.name === name) as unknown as { values: { name: string; val: number }[] } | undefined;
  assert.ok(t, `enum ${name} is in the BTF`);
  return new Map(t.values.map((v) => [v.name, v.val]));
}

test('drop reason names in TypeScript follow enum tapio_drop_reason', () => {
  const e = enumValues('tapio_drop_reason');
  assert.equal(e.get('TAPIO_DROP_REASON_MAX'), DROP_REASON_SLOTS);
  KERNEL_DROP_REASONS.forEach((name, i) => {
    assert.equal(e.get(`TAPIO_DROP_${name.toUpperCase()}`), i, `reason ${name} has value ${i}`);
  });
  assert.equal([...e.keys()].filter((k) => k !== 'TAPIO_DROP_REASON_MAX').length, KERNEL_DROP_REASONS.length, 'every C reason has a name in TS');
});

test('every event kind in enum tapio_kind has a name in TypeScript, and the numbers agree', () => {
  const e = enumValues('tapio_kind');
  assert.equal(e.get('TAPIO_KIND_MAX'), KIND_SLOTS);
  const cKinds = [...e.entries()].filter(([k]) => k !== 'TAPIO_KIND_MAX' && k !== 'TAPIO_KIND_NONE').map(([, v]) => v).sort((a, b) => a - b);
  assert.deepEqual(Object.keys(KIND_NAMES).map(Number).sort((a, b) => a - b), cKinds);
});

test('struct tapio_header matches the layout every decoder reads', () => {
  const fields = Object.fromEntries(Object.entries(HEADER_FIELDS).map(([k, v]) => [k.replace(/^h\./, ''), v]));
  assert.deepEqual(checkLayouts(OBJ, [{ name: 'tapio_header', size: HEADER_SIZE, fields }]), []);
});
