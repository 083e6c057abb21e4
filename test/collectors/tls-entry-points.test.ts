// Where TLS uprobes go (src/collectors/tls/entry-points.ts; no root): the host's libssl.so.3 is probed at the one
// internal function each SSL_write/SSL_read pair forwards to (its exported entries would be single-stepped), node's
// own OpenSSL at its exported names (they start with push, already cheap); code of any other shape, and random
// bytes, keep the exported names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { elfExports, readCode, type ElfExports } from '../../src/collectors/tls/elf';
import { callsTarget, emulatedByUprobes, forwardedCall, sharedEntryPoint } from '../../src/collectors/tls/entry-points';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const NAMES = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'];
const okExports = (f: string): Extract<ElfExports, { ok: true }> => {
  const e = elfExports(f, NAMES);
  assert.ok(e.ok, !e.ok ? e.error : '');
  return e;
};

test('libssl.so.3: each pair shares one internal entry that starts with an emulated instruction', { skip: (process.arch !== 'x64' || !fs.existsSync(LIBSSL)) && 'needs the x86-64 libssl.so.3' }, () => {
  const ssl = okExports(LIBSSL);
  const write = sharedEntryPoint(LIBSSL, ssl, 'SSL_write', 'SSL_write_ex');
  const read = sharedEntryPoint(LIBSSL, ssl, 'SSL_read', 'SSL_read_ex');
  assert.ok(write && read, 'both pairs forward to a shared function');
  assert.notEqual(write.fileOffset, read.fileOffset);
  for (const site of [write, read]) {
    assert.ok(emulatedByUprobes(readCode(LIBSSL, site.fileOffset, 16)!), 'the shared entry is cheap to probe');
    for (const name of site.covers) {
      const at = ssl.codeOffsets.get(name)!;
      assert.ok(!emulatedByUprobes(readCode(LIBSSL, at, 16)!), `${name}'s own entry would be single-stepped`);
      assert.ok(callsTarget(readCode(LIBSSL, at, 96)!, at, site.fileOffset), `${name} calls the shared entry`);
    }
  }
});

test('node\'s OpenSSL keeps its exported entries (they start with push already)', { skip: process.arch !== 'x64' && 'x86-64 only' }, () => {
  const node = okExports(process.execPath);
  const at = node.codeOffsets.get('SSL_write');
  assert.ok(at !== undefined && emulatedByUprobes(readCode(process.execPath, at, 16)!));
  assert.equal(sharedEntryPoint(process.execPath, node, 'SSL_write', 'SSL_write_ex'), undefined);
});

/** An in-memory "file": plain at 0x100, ex at 0x200, the shared callee at 0x400. */
function fakeFile(plain: number[], ex: number[], callee: number[]) {
  const mem = Buffer.alloc(0x500, 0xcc);
  Buffer.from(plain).copy(mem, 0x100);
  Buffer.from(ex).copy(mem, 0x200);
  Buffer.from(callee).copy(mem, 0x400);
  const exports: Extract<ElfExports, { ok: true }> = { ok: true, machine: 62, found: new Set(['SSL_write', 'SSL_write_ex']),
    codeOffsets: new Map([['SSL_write', 0x100], ['SSL_write_ex', 0x200]]) };
  const read = (_f: string, off: number, n: number) => mem.subarray(off, off + n);
  return { exports, read };
}
const call = (from: number, to: number) => { const b = Buffer.alloc(5); b[0] = 0xe8; b.writeInt32LE(to - (from + 5), 1); return [...b]; };

test('the shared entry is taken only for the exact forwarding shape, and only when it is cheaper', () => {
  // ex: sub $8,%rsp; call 0x400. plain: sub $0x18,%rsp; ...; call 0x400. callee: push %r14.
  const ex = [0x48, 0x83, 0xec, 0x08, ...call(0x204, 0x400)];
  const plain = [0x48, 0x83, 0xec, 0x18, 0x31, 0xc0, ...call(0x106, 0x400)];
  const good = fakeFile(plain, ex, [0x41, 0x56]);
  assert.deepEqual(sharedEntryPoint('f', good.exports, 'SSL_write', 'SSL_write_ex', good.read), { fileOffset: 0x400, covers: ['SSL_write', 'SSL_write_ex'] });
  // With endbr64 first, the same.
  const cet = fakeFile(plain, [0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x08, ...call(0x208, 0x400)], [0x55]);
  assert.equal(sharedEntryPoint('f', cet.exports, 'SSL_write', 'SSL_write_ex', cet.read)?.fileOffset, 0x400);
  // The callee would be single-stepped too: nothing gained, keep the names.
  const slowCallee = fakeFile(plain, ex, [0x48, 0x83, 0xec, 0x38]);
  assert.equal(sharedEntryPoint('f', slowCallee.exports, 'SSL_write', 'SSL_write_ex', slowCallee.read), undefined);
  // SSL_write does not call the same function (it could reach it through SSL_write_ex: probed twice): keep the names.
  const other = fakeFile([0x48, 0x83, 0xec, 0x18, ...call(0x104, 0x480)], ex, [0x41, 0x56]);
  assert.equal(sharedEntryPoint('f', other.exports, 'SSL_write', 'SSL_write_ex', other.read), undefined);
  // SSL_write_ex does more than forward: keep the names.
  const work = fakeFile(plain, [0x48, 0x89, 0xe5, ...call(0x203, 0x400)], [0x41, 0x56]);
  assert.equal(sharedEntryPoint('f', work.exports, 'SSL_write', 'SSL_write_ex', work.read), undefined);
  // Already cheap at the names (push first): keep them.
  const cheap = fakeFile(plain, [0x55, ...call(0x201, 0x400)], [0x41, 0x56]);
  assert.equal(sharedEntryPoint('f', cheap.exports, 'SSL_write', 'SSL_write_ex', cheap.read), undefined);
  // Another architecture: never.
  assert.equal(sharedEntryPoint('f', { ...good.exports, machine: 183 }, 'SSL_write', 'SSL_write_ex', good.read), undefined);
});

test('the instruction checks take random and truncated code without throwing (fuzzed)', () => {
  let shared = 0;
  for (let i = 0; i < 20_000; i++) {
    const code = randomBytes(i % 97);
    emulatedByUprobes(code);
    const t = forwardedCall(code, 0x1000);
    assert.ok(t === undefined || Number.isInteger(t));
    callsTarget(code, 0x1000, 0x2000);
    const f = fakeFile([...randomBytes(40)], [...randomBytes(40)], [...randomBytes(8)]);
    if (sharedEntryPoint('f', f.exports, 'SSL_write', 'SSL_write_ex', f.read)) shared++;
  }
  assert.ok(shared < 5, `random code is almost never taken for the forwarding shape (${shared})`);
});
