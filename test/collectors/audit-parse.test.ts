// The audit record parser and interpreter on recorded real lines (SELinux and AppArmor cannot run here; the
// Landlock and seccomp lines are as this kernel logged them), netlink framing with unaligned payload lengths, and a
// fuzz test: random and mutated datagrams never throw and never produce a message past the datagram's end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseAuditRecord, parseFields, splitNetlink, type AuditRecord } from '../../src/collectors/audit/parse';
import { AuditInterpreter, seccompAction } from '../../src/collectors/audit/interpret';
import type { KnownProcess } from '../../src/collectors/security-signals/event';

function record(type: number, text: string): AuditRecord {
  const r = parseAuditRecord(type, text);
  if ('error' in r) throw new Error(r.error);
  return r.record;
}

/** A datagram of netlink messages, each payload unpadded in its length (as the kernel sends audit records). */
function datagram(msgs: { type: number; text: string }[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const payload = Buffer.from(m.text);
    const len = 16 + payload.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt32LE(len, 0);
    b.writeUInt16LE(m.type, 4);
    payload.copy(b, 16);
    parts.push(b);
  }
  return new Uint8Array(Buffer.concat(parts));
}

const SELINUX = 'audit(1700000000.123:4567): avc:  denied  { read write } for  pid=4242 comm="cat" name="shadow" dev="sda1" ino=1234 scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=system_u:object_r:shadow_t:s0 tclass=file permissive=0';
const SELINUX_GRANTED = 'audit(1700000000.124:4568): avc:  granted  { setenforce } for  pid=1 comm="init" scontext=system_u:system_r:init_t:s0 tcontext=system_u:object_r:security_t:s0 tclass=security';
const APPARMOR = 'audit(1700000001.500:77): apparmor="DENIED" operation="open" class="file" profile="docker-default" name="/etc/shadow" pid=5151 comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0';
const APPARMOR_ALLOWED = 'audit(1700000001.501:78): apparmor="ALLOWED" operation="open" profile="complain-me" name="/etc/hosts" pid=5152 comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0';
const SECCOMP = 'audit(1700000002.000:90): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=6191 comm=736563636F6D702074726967 exe="/usr/local/bin/trig" sig=31 arch=c000003e syscall=63 compat=0 ip=0x7f8b22bc1829 code=0x80000000';
const LANDLOCK = 'audit(1700000003.010:95): domain=1995d2ab4 blockers=fs.read_file path="/etc/hostname" dev="vda1" ino=393';
const LANDLOCK_SYSCALL = 'audit(1700000003.010:95): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffd a2=0 a3=0 items=0 ppid=1 pid=7373 auid=4294967295 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=4294967295 comm="landlock_deny" exe="/usr/bin/landlock_deny" subj=unconfined key=(null)';
const LANDLOCK_PROCTITLE = 'audit(1700000003.010:95): proctitle=6C616E646C6F636B5F64656E79002F6574632F686F73746E616D65';
const LANDLOCK_DOMAIN = 'audit(1700000004.000:96): domain=1995d2ab9 status=allocated mode=enforcing pid=8080 uid=0 exe="/usr/bin/sandboxed" comm="sandboxed"';
const LANDLOCK_ALONE = 'audit(1700000004.001:97): domain=1995d2ab9 blockers=net.connect_tcp daddr=10.0.0.1 dest=443';

function interpreter(live = new Map<number, string>()) {
  return new AuditInterpreter({
    groupWaitMs: 100,
    lookup: {
      attributes: (pid: number, known: KnownProcess) => ({
        attributes: { 'process.pid': pid, ...(known.exe ?? live.get(pid) ? { 'process.executable.path': known.exe ?? live.get(pid)! } : {}),
          ...(known.args ? { 'process.command_args': known.args } : {}), ...(known.uid !== undefined ? { 'process.user.id': known.uid } : {}) },
        live: live.has(pid),
      }),
      cgroupId: (pid: number) => (live.has(pid) ? 4242n : undefined),
    },
  });
}

test('stamp, serial and key=value fields: quoted, plain and hex-encoded values', () => {
  const r = record(1326, SECCOMP);
  assert.equal(r.timeMs, 1700000002000);
  assert.equal(r.serial, 90);
  assert.equal(r.fields.comm, 'seccomp trig', 'hex-encoded comm (it had a space) is decoded');
  assert.equal(r.fields.exe, '/usr/local/bin/trig');
  assert.equal(r.fields.code, '0x80000000');
  assert.equal(seccompAction(r.fields.code), 'KILL_PROCESS');
  assert.equal(seccompAction('0x7ffc0000'), 'LOG');
  assert.equal(seccompAction('0x0'), 'KILL_THREAD');
  assert.equal(seccompAction('0x00050001'), 'ERRNO');
  assert.deepEqual({ ...parseFields('a=1 b="two words" c=\'x y\' bare d=') }, { a: '1', b: 'two words', c: 'x y', d: '' });
  assert.ok('error' in parseAuditRecord(1400, 'no stamp here'));
});

test('SELinux AVC with its double spaces: a denial is reported, a granted (auditallow) line is not', () => {
  const i = interpreter(new Map([[4242, '/usr/bin/cat']]));
  const r = record(1400, SELINUX);
  assert.deepEqual(r.avc, { decision: 'denied', permissions: ['read', 'write'] });
  assert.equal(r.fields.scontext, 'system_u:system_r:container_t:s0:c1,c2');
  const [e] = [...i.add(r), ...i.add(record(1400, SELINUX_GRANTED)), ...i.flush(Date.now() + 1000)];
  assert.equal(i.counters.events, 1);
  assert.equal(e!.name, 'security.lsm.denied');
  assert.equal(e!.attributes['tapio.security.lsm'], 'selinux');
  assert.equal(e!.attributes['tapio.security.lsm.operation'], 'read write');
  assert.equal(e!.attributes['tapio.security.lsm.object.name'], 'shadow');
  assert.equal(e!.attributes['tapio.security.lsm.object.class'], 'file');
  assert.equal(e!.attributes['tapio.security.lsm.enforced'], true);
  assert.equal(e!.attributes['process.pid'], 4242);
  assert.equal(e!.cgroupId, 4242n, 'the cgroup of the pid at arrival');
  assert.equal(e!.timeUnixNano, 1700000000123n * 1_000_000n);
});

test('AppArmor: DENIED is reported with profile and masks, ALLOWED (complain mode) is not', () => {
  const i = interpreter();
  const events = [...i.add(record(1400, APPARMOR)), ...i.add(record(1400, APPARMOR_ALLOWED)), ...i.flush(Date.now() + 1000)];
  assert.equal(events.length, 1);
  const a = events[0]!.attributes;
  assert.equal(a['tapio.security.lsm'], 'apparmor');
  assert.equal(a['tapio.security.lsm.subject'], 'docker-default');
  assert.equal(a['tapio.security.lsm.object.name'], '/etc/shadow');
  assert.equal(a['tapio.security.lsm.denied'], 'r');
  assert.equal(i.counters.processGone, 1, 'pid 5151 is not running here: counted');
});

test('Landlock: 1423 with its SYSCALL and PROCTITLE records (one serial, closed by EOE), and alone (process from its domain)', () => {
  const i = interpreter();
  assert.deepEqual(i.add(record(1423, LANDLOCK)), []);
  i.add(record(1300, LANDLOCK_SYSCALL));
  i.add(record(1327, LANDLOCK_PROCTITLE));
  const [e] = i.add(record(1320, 'audit(1700000003.010:95): '));
  assert.ok(e, 'EOE completes the group');
  assert.equal(e.attributes['tapio.security.lsm'], 'landlock');
  assert.equal(e.attributes['tapio.security.lsm.operation'], 'fs.read_file');
  assert.equal(e.attributes['tapio.security.lsm.object.name'], '/etc/hostname');
  assert.equal(e.attributes['tapio.security.lsm.syscall'], 'openat');
  assert.equal(e.attributes['process.pid'], 7373);
  assert.equal(e.attributes['process.user.id'], 1000);
  assert.equal(e.attributes['process.executable.path'], '/usr/bin/landlock_deny');
  assert.deepEqual(e.attributes['process.command_args'], ['landlock_deny', '/etc/hostname']);

  i.add(record(1424, LANDLOCK_DOMAIN));
  i.add(record(1423, LANDLOCK_ALONE));
  const later = i.flush(Date.now() + 1000);
  const n = later.find((x) => x.attributes['tapio.security.lsm.operation'] === 'net.connect_tcp');
  assert.ok(n, 'decided after groupWaitMs without an EOE');
  assert.equal(n.attributes['process.pid'], 8080, 'the domain creator from its 1424 record');
  assert.equal(n.attributes['tapio.security.lsm.object.name'], '10.0.0.1:443');
});

test('netlink framing: unaligned payload lengths, trailing NULs, and a bad length stops the walk with a reason', () => {
  const d = datagram([{ type: 1400, text: APPARMOR }, { type: 1326, text: SECCOMP + '\0' }, { type: 1320, text: 'audit(1.2:3): ' }]);
  const s = splitNetlink(d);
  assert.equal(s.error, undefined);
  assert.deepEqual(s.messages.map((m) => m.type), [1400, 1326, 1320]);
  assert.equal(s.messages[1]!.text, SECCOMP);
  const bad = Buffer.from(d);
  bad.writeUInt32LE(100000, 0);
  assert.equal(splitNetlink(new Uint8Array(bad)).error, 'bad_nlmsg_len');
  assert.deepEqual(splitNetlink(new Uint8Array(7)).messages, []);
});

test('fuzz: random and mutated datagrams never throw; every message lies inside the datagram', () => {
  const seeds = [datagram([{ type: 1400, text: SELINUX }, { type: 1423, text: LANDLOCK }]), datagram([{ type: 1326, text: SECCOMP }])];
  const i = interpreter();
  for (let n = 0; n < 3000; n++) {
    let bytes: Uint8Array;
    if (n % 3 === 0) {
      bytes = new Uint8Array(randomBytes(Math.floor(Math.random() * 200)));
    } else {
      bytes = Uint8Array.from(seeds[n % seeds.length]!);
      for (let k = 0; k < 1 + (n % 8); k++) bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
      if (n % 5 === 0) bytes = bytes.subarray(0, Math.floor(Math.random() * bytes.length));
    }
    const s = splitNetlink(bytes);
    assert.ok(s.messages.length <= Math.floor(bytes.length / 16), 'each message has its own header inside the datagram');
    for (const m of s.messages) {
      assert.ok(m.text.length <= bytes.length - 16, 'a payload never extends past the datagram');
      const r = parseAuditRecord(m.type, m.text);
      if ('record' in r) i.add(r.record);
    }
  }
  i.flush(Date.now() + 10_000, true);
});
