// TLS discovery's incremental scans over a /proc tree built in a temp dir (the layout the kernel gives: maps, the exe
// and ns/mnt links, the root link), so a process's exec, a late dlopen and a process leaving are made at will:
// a process seen before is not read again until it execs (or a full scan every `fullEvery`), and what it mapped is
// still reported in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Discovery } from '../../src/collectors/tls/discovery';

interface FakeProc { exe: string; maps: string[] }

function mapsLine(file: string, inode: number): string {
  return `7f0000000000-7f0000001000 r-xp 00000000 08:01 ${inode}                    ${file}`;
}

/** A /proc with a root directory (holding the mapped files) and processes written by `put`. */
function fakeProc(t: { after: (fn: () => void) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-fakeproc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const top = path.join(dir, 'rootfs');
  const proc = path.join(dir, 'proc');
  fs.mkdirSync(proc);
  const files = new Map<string, number>();
  const file = (p: string, bytes: string) => {
    fs.mkdirSync(path.join(top, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(top, p), bytes);
    files.set(p, fs.statSync(path.join(top, p)).ino);
  };
  const put = (pid: number, p: FakeProc) => {
    const d = path.join(proc, String(pid));
    fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(path.join(d, 'ns'), { recursive: true });
    fs.symlinkSync(p.exe, path.join(d, 'exe'));
    fs.symlinkSync('mnt:[4026531841]', path.join(d, 'ns', 'mnt'));
    fs.symlinkSync(top, path.join(d, 'root'));
    fs.writeFileSync(path.join(d, 'maps'), `${p.maps.map((m) => mapsLine(m, files.get(m) ?? 1)).join('\n')}\n`);
  };
  const kernelThread = (pid: number) => {
    fs.mkdirSync(path.join(proc, String(pid)), { recursive: true });
    fs.writeFileSync(path.join(proc, String(pid), 'maps'), '');
  };
  return { proc, file, put, kernelThread, gone: (pid: number) => fs.rmSync(path.join(proc, String(pid)), { recursive: true }) };
}

test('discovery reads a process again only when it execs or in a full scan, and still reports what it mapped', (t) => {
  const f = fakeProc(t);
  f.file('/usr/bin/sh', 'sh');
  f.file('/usr/bin/node', 'node binary');
  f.file('/opt/app/libssl.so.3', 'an app\'s own libssl');
  f.file('/usr/lib/libc.so.6', 'libc');
  f.kernelThread(2);
  f.put(100, { exe: '/usr/bin/sh', maps: ['/usr/bin/sh', '/usr/lib/libc.so.6'] });
  f.put(101, { exe: '/usr/bin/node', maps: ['/usr/bin/node', '/usr/lib/libc.so.6'] });
  // No library directories: only what processes map counts here.
  const d = new Discovery(f.proc, [], 8192, 4);
  const paths = (r: ReturnType<Discovery['scan']>) => [...r.files.values()].map((x) => `${x.path}:${[...x.pids].join(',')}`).sort();

  let r = d.scan();
  assert.equal(r.mapsRead, 3, 'the first scan reads every process, kernel threads included');
  assert.equal(r.processes, 2);
  assert.deepEqual(paths(r), ['/usr/bin/node:101', '/usr/bin/sh:100']);

  r = d.scan();
  assert.equal(r.mapsRead, 0, 'nothing exec\'d: nothing read again');
  assert.deepEqual(paths(r), ['/usr/bin/node:101', '/usr/bin/sh:100'], 'and the same files reported');

  // pid 100 execs node (a shell's `exec node app.js`, as container entrypoints do): read on the next scan.
  f.put(100, { exe: '/usr/bin/node', maps: ['/usr/bin/node', '/usr/lib/libc.so.6'] });
  r = d.scan();
  assert.equal(r.mapsRead, 1);
  assert.deepEqual(paths(r), ['/usr/bin/node:100,101']);

  // pid 101 dlopens a libssl outside the library directories: seen at the next full scan (every 4th here).
  f.put(101, { exe: '/usr/bin/node', maps: ['/usr/bin/node', '/usr/lib/libc.so.6', '/opt/app/libssl.so.3'] });
  r = d.scan();
  assert.equal(r.mapsRead, 0);
  assert.deepEqual(paths(r), ['/usr/bin/node:100,101'], 'not yet: an unchanged executable is not read again');
  r = d.scan();
  assert.equal(r.mapsRead, 3, 'a full scan reads every process again');
  assert.deepEqual(paths(r), ['/opt/app/libssl.so.3:101', '/usr/bin/node:100,101']);

  // A new process is read at once; one that left is no longer reported (nor kept).
  f.gone(100);
  f.put(102, { exe: '/usr/bin/sh', maps: ['/usr/bin/sh'] });
  r = d.scan();
  assert.equal(r.mapsRead, 1);
  assert.deepEqual(paths(r), ['/opt/app/libssl.so.3:101', '/usr/bin/node:101', '/usr/bin/sh:102']);
  // pid 100 comes back (pid reuse) with another program: read, not taken from the old one.
  f.put(100, { exe: '/usr/bin/sh', maps: ['/usr/bin/sh'] });
  r = d.scan();
  assert.equal(r.mapsRead, 1);
  assert.deepEqual(paths(r), ['/opt/app/libssl.so.3:101', '/usr/bin/node:101', '/usr/bin/sh:100,102']);
});

test('a process whose maps cannot be read is counted unreadable each scan and never reported', (t) => {
  const f = fakeProc(t);
  f.file('/usr/bin/node', 'node binary');
  f.put(200, { exe: '/usr/bin/node', maps: ['/usr/bin/node'] });
  fs.rmSync(path.join(f.proc, '200', 'maps')); // gone between listing and reading
  const d = new Discovery(f.proc, [], 8192, 100);
  for (let i = 0; i < 3; i++) {
    const r = d.scan();
    assert.equal(r.unreadable, 1);
    assert.equal(r.files.size, 0);
  }
});
