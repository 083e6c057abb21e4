// The C structs in bpf/include are the source of truth for record layouts: every TypeScript layout the decoders use
// must match the BTF of the compiled objects (bpf/.output, built by `make -C bpf`), so C and TS cannot drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { checkLayouts, compareLayout, readBtfTypes, structLayout } from '../../src/kernel/btf-layout';
import { EXEC_RECORD, EXIT_RECORD, FORK_RECORD, SETTINGS } from '../../src/collectors/process/layout';
import { TCP_CONN, TCP_RECORD } from '../../src/collectors/network/layout';
import { L7_CLOSE_RECORD, L7_CONN, L7_DATA_RECORD, L7_SETTINGS } from '../../src/collectors/requests/layout';

const OUT = path.join(__dirname, '..', '..', '..', 'bpf', '.output');

test('process records in TypeScript match process.bpf.o BTF', () => {
  assert.deepEqual(checkLayouts(path.join(OUT, 'process.bpf.o'), [EXEC_RECORD, EXIT_RECORD, FORK_RECORD, SETTINGS]), []);
});

test('network records in TypeScript match network.bpf.o BTF', () => {
  assert.deepEqual(checkLayouts(path.join(OUT, 'network.bpf.o'), [TCP_RECORD, TCP_CONN]), []);
});

test('request-capture records in TypeScript match l7.bpf.o BTF', () => {
  assert.deepEqual(checkLayouts(path.join(OUT, 'l7.bpf.o'), [L7_DATA_RECORD, L7_CLOSE_RECORD, L7_CONN, L7_SETTINGS]), []);
});

test('the layout check reports a drifted field, a wrong size and a missing struct', () => {
  const types = readBtfTypes(path.join(OUT, 'process.bpf.o'));
  const drifted = { ...EXIT_RECORD, size: 72, fields: { ...EXIT_RECORD.fields, exit_code: { offset: 40, size: 4 } } };
  const problems = compareLayout(structLayout(types, 'proc_exit_record'), drifted);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('exit_code')));
  assert.ok(problems.some((p) => p.includes('size')));
  assert.match(compareLayout(structLayout(types, 'no_such_struct'), { name: 'no_such_struct', size: 1, fields: {} })[0], /not found/);
});

test('a missing object file gives an error that names it', () => {
  assert.throws(() => readBtfTypes('/nonexistent/x.bpf.o'), /cannot read BTF of \/nonexistent\/x\.bpf\.o/);
});
