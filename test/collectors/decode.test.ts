// Decoders over hand-built bytes: what a record means to a user (names, attributes), and that bad bytes are counted
// and skipped, never thrown. Records are laid out with the same layout tables the BTF test checks against C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { DropCounters } from '../../src/core/drops';
import { ProcessDecoder, decodeWaitStatus, splitArgs } from '../../src/collectors/process/decode';
import { ProcessTable } from '../../src/collectors/process/table';
import { EXEC_RECORD, EXIT_RECORD, FORK_RECORD, KIND_EXEC, KIND_EXIT, KIND_FORK } from '../../src/collectors/process/layout';
import { NetworkDecoder } from '../../src/collectors/network/decode';
import { formatAddress } from '../../src/collectors/network/address';
import { FLAG_OWNER_UNKNOWN, KIND_CLOSE, KIND_CONNECT_FAILED, ROLE_CLIENT, TCP_RECORD } from '../../src/collectors/network/layout';

const identityClock = (ns: bigint) => ns;

function header(b: Buffer, kind: number, size: number, ts: bigint, pid: number, cgroup = 42n): void {
  b.writeUInt32LE(kind, 0);
  b.writeUInt32LE(size, 4);
  b.writeBigUInt64LE(ts, 8);
  b.writeBigUInt64LE(cgroup, 16);
  b.writeUInt32LE(pid, 24);
  b.writeUInt32LE(pid, 28);
}

function view(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}

function execRecord(pid: number, exe: string, args: string[], o: { total?: number; start?: bigint } = {}): Buffer {
  const F = EXEC_RECORD.fields;
  const b = Buffer.alloc(EXEC_RECORD.size);
  header(b, KIND_EXEC, EXEC_RECORD.size, 5_000_000_000n, pid);
  const argv = Buffer.from(args.map((a) => `${a}\0`).join(''));
  b.writeUInt32LE(1, F.ppid.offset);
  b.writeUInt32LE(1000, F.uid.offset);
  b.writeUInt32LE(100, F.gid.offset);
  b.writeBigUInt64LE(o.start ?? 4_000_000_000n, F.start_boot_ns.offset);
  b.writeUInt32LE(o.total ?? argv.length, F.argv_total_bytes.offset);
  b.writeUInt16LE(argv.length, F.argv_bytes.offset);
  b.writeUInt16LE(Buffer.byteLength(exe), F.path_bytes.offset);
  b.write('comm', F.comm.offset);
  b.write(exe, F.path.offset);
  argv.copy(b, F.argv.offset);
  return b;
}

function exitRecord(pid: number, status: number, start = 4_000_000_000n): Buffer {
  const F = EXIT_RECORD.fields;
  const b = Buffer.alloc(EXIT_RECORD.size);
  header(b, KIND_EXIT, EXIT_RECORD.size, 6_000_000_000n, pid);
  b.writeUInt32LE(1, F.ppid.offset);
  b.writeInt32LE(status, F.exit_code.offset);
  b.writeBigUInt64LE(start, F.start_boot_ns.offset);
  b.write('comm', F.comm.offset);
  return b;
}

function processDecoder(argvMaxCount = 16) {
  const drops = new DropCounters();
  const table = new ProcessTable(4);
  return { drops, table, d: new ProcessDecoder({ argvMaxCount, table, drops, toUnixNano: identityClock }) };
}

test('exec then exit: path, args, ids, exit code and lifetime', () => {
  const { d } = processDecoder();
  const exec = d.decode(view(execRecord(77, '/usr/bin/env', ['env', 'A=1', 'x y'])), 0, EXEC_RECORD.size)!;
  assert.equal(exec.name, 'process.exec');
  assert.equal(exec.attributes['process.pid'], 77);
  assert.equal(exec.attributes['process.executable.path'], '/usr/bin/env');
  assert.equal(exec.attributes['process.executable.name'], 'env');
  assert.deepEqual(exec.attributes['process.command_args'], ['env', 'A=1', 'x y']);
  assert.equal(exec.attributes['process.user.id'], 1000);
  assert.equal(exec.attributes['tapio.argv.truncated'], false);
  assert.equal(exec.cgroupId, 42n);
  const exit = d.decode(view(exitRecord(77, 3 << 8)), 0, EXIT_RECORD.size)!;
  assert.equal(exit.attributes['process.exit.code'], 3);
  assert.equal(exit.attributes['process.executable.path'], '/usr/bin/env');
  assert.equal(exit.attributes['tapio.process.lifetime_ns'], 2_000_000_000);
  assert.equal(exit.attributes['tapio.process.signal'], undefined);
});

test('exit by signal reports the signal, not an exit code; a reused pid does not inherit the old path', () => {
  const { d } = processDecoder();
  d.decode(view(execRecord(78, '/bin/sleep', ['sleep', '9'])), 0, EXEC_RECORD.size);
  const killed = d.decode(view(exitRecord(78, 9, 1_000n)), 0, EXIT_RECORD.size)!; // started at another time
  assert.equal(killed.attributes['tapio.process.signal'], 9);
  assert.equal(killed.attributes['process.exit.code'], undefined);
  assert.equal(killed.attributes['process.executable.path'], undefined);
  assert.equal(killed.attributes['process.executable.name'], 'comm');
  assert.deepEqual(decodeWaitStatus(0x80 | 11), { signal: 11, coreDumped: true });
});

test('repeated command lines (the argument cache) decode like new ones: same args, redaction, truncation', () => {
  const { d } = processDecoder(2);
  const decodeExec = (pid: number, args: string[], total?: number) =>
    d.decode(view(execRecord(pid, '/usr/bin/curl', args, { total })), 0, EXEC_RECORD.size)!.attributes;
  for (let round = 0; round < 3; round++) {
    const secret = decodeExec(100 + round, ['curl', '--password=hunter2']);
    assert.deepEqual(secret['process.command_args'], ['curl', '--password=[REDACTED]']);
    assert.equal(secret['tapio.argv.truncated'], false);
    const many = decodeExec(200 + round, ['curl', '-s', 'http://x/']); // over the count limit of 2
    assert.deepEqual(many['process.command_args'], ['curl', '-s']);
    assert.equal(many['tapio.argv.truncated'], true);
    const cut = decodeExec(300 + round, ['curl', '-v'], 5000); // the kernel read only part of it: never cached
    assert.equal(cut['tapio.argv.truncated'], true);
    // Differs from the first only after the point where a prefix cache would stop.
    assert.deepEqual(decodeExec(400 + round, ['curl', '--password=hunter3'])['process.command_args'], ['curl', '--password=[REDACTED]']);
    assert.deepEqual(decodeExec(500 + round, ['curl', 'ok'])['process.command_args'], ['curl', 'ok']);
  }
});

test('strings in records: stop at the NUL or the field end, in any batch buffer', () => {
  const { d } = processDecoder();
  const a = execRecord(601, '/bin/aa', ['aa']);
  const b = execRecord(602, '/bin/b', ['b']);
  b.fill(0x41, EXEC_RECORD.fields.comm.offset, EXEC_RECORD.fields.comm.offset + 16); // comm with no NUL: 16 bytes
  const batch = Buffer.concat([a, b]);
  const v = new DataView(batch.buffer, batch.byteOffset, batch.length);
  const ea = d.decode(v, 0, EXEC_RECORD.size)!;
  const eb = d.decode(v, EXEC_RECORD.size, EXEC_RECORD.size)!;
  assert.equal(ea.attributes['tapio.process.comm'], 'comm');
  assert.equal(ea.attributes['process.executable.path'], '/bin/aa');
  assert.equal(eb.attributes['tapio.process.comm'], 'A'.repeat(16));
  assert.equal(eb.attributes['process.executable.path'], '/bin/b');
  // A new buffer at the same offsets is read afresh (the decoder keeps one view per batch buffer).
  const c = execRecord(603, '/bin/cc', ['cc']);
  assert.equal(d.decode(view(c), 0, EXEC_RECORD.size)!.attributes['process.executable.path'], '/bin/cc');
});

test('argv limits: count and byte truncation are marked', () => {
  assert.deepEqual(splitArgs(Buffer.from('a\0b\0c\0'), 6, 2), { args: ['a', 'b'], truncated: true });
  assert.deepEqual(splitArgs(Buffer.from('a\0bc'), 10, 8), { args: ['a', 'bc'], truncated: true });
  assert.deepEqual(splitArgs(Buffer.from(''), 0, 8), { args: [], truncated: false });
  const { d } = processDecoder();
  const e = d.decode(view(execRecord(79, '/bin/x', ['x', 'long'], { total: 5000 })), 0, EXEC_RECORD.size)!;
  assert.equal(e.attributes['tapio.argv.truncated'], true);
});

test('the process table is bounded and counts evictions', () => {
  const { d, drops, table } = processDecoder();
  for (let pid = 100; pid < 110; pid++) d.decode(view(execRecord(pid, '/bin/x', ['x'])), 0, EXEC_RECORD.size);
  assert.equal(table.size, 4);
  assert.equal(table.evictions, 6);
  assert.equal(drops.total(), 0, 'an eviction is not a lost event');
});

test('fork names child and parent, and the child inherits the parent path for its exit', () => {
  const { d } = processDecoder();
  d.decode(view(execRecord(200, '/bin/bash', ['bash'])), 0, EXEC_RECORD.size);
  const F = FORK_RECORD.fields;
  const b = Buffer.alloc(FORK_RECORD.size);
  header(b, KIND_FORK, FORK_RECORD.size, 7_000_000_000n, 200);
  b.writeUInt32LE(201, F.child_pid.offset);
  const fork = d.decode(view(b), 0, FORK_RECORD.size)!;
  assert.equal(fork.attributes['process.pid'], 201);
  assert.equal(fork.attributes['process.parent_pid'], 200);
  const exit = d.decode(view(exitRecord(201, 0, 7_000_000_000n)), 0, EXIT_RECORD.size)!;
  assert.equal(exit.attributes['process.executable.path'], '/bin/bash');
});

test('bad process records are counted at stage decode and skipped, never thrown', () => {
  const { d, drops } = processDecoder();
  assert.equal(d.decode(view(Buffer.alloc(8)), 0, 8), undefined);
  const unknown = Buffer.alloc(64);
  header(unknown, 29, 64, 1n, 1);
  assert.equal(d.decode(view(unknown), 0, 64), undefined);
  const short = exitRecord(5, 0).subarray(0, 40);
  assert.equal(d.decode(view(short), 0, 40), undefined);
  const badLen = execRecord(6, '/x', ['x']);
  badLen.writeUInt16LE(60000, EXEC_RECORD.fields.argv_bytes.offset);
  assert.equal(d.decode(view(badLen), 0, EXEC_RECORD.size), undefined);
  assert.equal(d.decode(view(Buffer.alloc(16)), 8, 32), undefined); // claims more bytes than the view holds
  assert.equal(drops.total({ stage: 'decode' }), 5);
  // Random bytes of every size: never a throw.
  for (let i = 0; i < 2000; i++) {
    const size = i % 4500;
    const junk = randomFillSync(Buffer.alloc(size));
    if (size >= 4) junk.writeUInt32LE([1, 2, 3, 9][i % 4], 0);
    d.decode(view(junk), 0, size);
  }
});

function tcpRecord(kind: number, o: { family: number; local: number[]; peer: number[]; flags?: number; error?: number }): Buffer {
  const F = TCP_RECORD.fields;
  const b = Buffer.alloc(TCP_RECORD.size);
  header(b, kind, TCP_RECORD.size, 9_000_000n, 300);
  b.writeBigUInt64LE(1_000_000n, F.start_ns.offset);
  b.writeBigUInt64LE(10n, F.bytes_sent.offset);
  b.writeBigUInt64LE(20n, F.bytes_received.offset);
  b.writeUInt32LE(55, F.srtt_us.offset);
  b.writeInt32LE(o.error ?? 0, F.error.offset);
  b.writeUInt16LE(o.family, F.family.offset);
  b.writeUInt16LE(40000, F.local_port.offset);
  b.writeUInt16LE(80, F.peer_port.offset);
  b.writeUInt8(ROLE_CLIENT, F.role.offset);
  b.writeUInt8(o.flags ?? 0, F.flags.offset);
  Buffer.from(o.local).copy(b, F.local_addr.offset);
  Buffer.from(o.peer).copy(b, F.peer_addr.offset);
  return b;
}

test('tcp close: addresses, ports, direction, bytes, lifetime; v4-mapped IPv6 is reported as IPv4', () => {
  const drops = new DropCounters();
  const d = new NetworkDecoder({ drops, toUnixNano: identityClock });
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7];
  const e = d.decode(view(tcpRecord(KIND_CLOSE, { family: 10, local: mapped, peer: [...mapped.slice(0, 12), 10, 0, 0, 8] })), 0, TCP_RECORD.size)!;
  assert.equal(e.name, 'network.tcp.close');
  assert.equal(e.attributes['network.type'], 'ipv4');
  assert.equal(e.attributes['network.local.address'], '10.0.0.7');
  assert.equal(e.attributes['network.peer.address'], '10.0.0.8');
  assert.equal(e.attributes['network.peer.port'], 80);
  assert.equal(e.attributes['tapio.network.direction'], 'outbound');
  assert.equal(e.attributes['tapio.bytes.sent'], 10);
  assert.equal(e.attributes['tapio.bytes.received'], 20);
  assert.equal(e.attributes['tapio.duration_ns'], 8_000_000);
  assert.equal(e.attributes['process.pid'], 300);
});

test('tcp connect_failed names the errno; owner-unknown records are marked and counted, not dropped', () => {
  const drops = new DropCounters();
  const d = new NetworkDecoder({ drops, toUnixNano: identityClock });
  const e = d.decode(view(tcpRecord(KIND_CONNECT_FAILED, { family: 2, local: [127, 0, 0, 1], peer: [127, 0, 0, 1], error: 111 })), 0, TCP_RECORD.size)!;
  assert.equal(e.attributes['error.type'], 'ECONNREFUSED');
  assert.equal(e.severity, 'WARN');
  const orphan = d.decode(view(tcpRecord(KIND_CLOSE, { family: 2, local: [1, 2, 3, 4], peer: [5, 6, 7, 8], flags: FLAG_OWNER_UNKNOWN })), 0, TCP_RECORD.size)!;
  assert.equal(orphan.attributes['process.pid'], undefined);
  assert.equal(orphan.attributes['tapio.process.unknown'], true);
  assert.equal(d.ownerUnknown, 1);
  assert.equal(drops.total(), 0, 'the event was delivered: not a drop');
});

test('bad tcp records are counted and skipped', () => {
  const drops = new DropCounters();
  const d = new NetworkDecoder({ drops, toUnixNano: identityClock });
  assert.equal(d.decode(view(tcpRecord(KIND_CLOSE, { family: 99, local: [], peer: [] })), 0, TCP_RECORD.size), undefined);
  assert.equal(d.decode(view(Buffer.alloc(20)), 0, 20), undefined);
  assert.equal(d.decode(view(tcpRecord(KIND_CLOSE, { family: 2, local: [], peer: [] }).subarray(0, 100)), 0, 100), undefined);
  assert.equal(drops.total({ stage: 'decode' }), 3);
});

test('IPv6 formatting follows RFC 5952', () => {
  const v6 = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.equal(formatAddress(10, v6('00000000000000000000000000000001'))!.address, '::1');
  assert.equal(formatAddress(10, v6('20010db8000000000001000000000001'))!.address, '2001:db8::1:0:0:1');
  assert.equal(formatAddress(10, v6('20010db8000100010001000100010001'))!.address, '2001:db8:1:1:1:1:1:1');
  assert.equal(formatAddress(10, v6('fe800000000000000000000000000000'))!.address, 'fe80::');
  assert.equal(formatAddress(10, v6('20010db8000000010000000000000000'))!.type, 'ipv6');
});
