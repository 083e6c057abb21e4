// Syscall naming per architecture: SIGSYS and audit records carry a number and an AUDIT_ARCH; the numbers differ
// between x86_64 and aarch64 (finit_module is 313 on one, 273 on the other), and arch 0 means "this machine's".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, NATIVE_AUDIT_ARCH, WATCHABLE_SYSCALLS, syscallName } from '../../src/core/syscalls';
import { archName } from '../../src/collectors/security-signals/decode';

test('the same syscall is named from either architecture\'s number', () => {
  assert.equal(syscallName(313, AUDIT_ARCH_X86_64), 'finit_module');
  assert.equal(syscallName(273, AUDIT_ARCH_AARCH64), 'finit_module');
  assert.equal(syscallName(273, AUDIT_ARCH_X86_64), 'syscall_273');
  assert.equal(syscallName(280, AUDIT_ARCH_AARCH64), 'bpf');
  assert.equal(syscallName(321, AUDIT_ARCH_X86_64), 'bpf');
  assert.equal(syscallName(2, AUDIT_ARCH_AARCH64), 'syscall_2', 'aarch64 has no open(2) at 2');
  assert.equal(syscallName(5, 0x40000003), 'syscall_5', 'an architecture without a table gives the number');
  assert.equal(syscallName(-1), 'unknown');
});

test('arch 0 (a record from this machine\'s own programs) is this process\'s architecture', () => {
  assert.equal(NATIVE_AUDIT_ARCH, process.arch === 'arm64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64);
  assert.equal(syscallName(process.arch === 'arm64' ? 273 : 313, 0), 'finit_module');
  assert.equal(archName(0), process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  assert.equal(archName(AUDIT_ARCH_AARCH64), 'aarch64');
});

test('every watchable syscall has a number on both architectures', () => {
  for (const arch of [AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64]) {
    const named = new Set(Array.from({ length: 512 }, (_, nr) => syscallName(nr, arch)));
    for (const s of WATCHABLE_SYSCALLS) {
      const name = s === 'umount' ? 'umount2' : s;
      assert.ok(named.has(name), `${name} on arch 0x${arch.toString(16)}`);
    }
  }
});
