// Per-file TLS attachment against the real kernel (needs root): the real discovery finds this machine's libssl and
// node, the real loader attaches the uprobes; the limit on files is kept and what is over it counted; a file no
// process maps any more is detached; the same file reached through two paths is attached once; a chroot's own libssl
// (same mount namespace as the host, another root) is found in its library directories before anything maps it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { needsRoot } from '../helpers/root';
import { loadCollector } from '../../src/kernel/loader';
import { tlsSpec } from '../../src/collectors/tls/spec';
import { TlsAttacher } from '../../src/collectors/tls/attach';
import { Discovery, type MappedFile } from '../../src/collectors/tls/discovery';

test('attach once per file, keep the limit (counting the rest), detach when unused', needsRoot, async () => {
  const loaded = await loadCollector(tlsSpec({ ringBufferBytes: 1 << 16, cpus: 2 }), { transport: 'ringbuf' });
  try {
    assert.ok(loaded.available, loaded.unavailableReasons().join('; '));
    const scan = new Discovery().scan(new Set());
    const candidates = [...scan.files.values()].filter((f) => f.kind === 'library' || f.path.endsWith('/node'));
    assert.ok(candidates.length >= 2, `libssl and node found: ${candidates.map((f) => f.path).join(', ')}`);
    // The host's libssl.so.3 reached by two names (symlink and file) is one key.
    const ssl = [...scan.files.values()].filter((f) => fs.realpathSync(f.openPath) === fs.realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3'));
    assert.equal(ssl.length, 1, 'one entry for the host libssl.so.3');

    const one = new TlsAttacher(loaded, 1);
    one.sync(new Map(candidates.map((f) => [f.key, f])));
    assert.equal(one.attached.size, 1);
    assert.equal(one.overLimit, candidates.length - 1 - [...one.failed.keys()].length);
    assert.ok(one.counters.files_over_limit >= 1, 'over the limit, counted');
    const [only] = [...one.attached.values()];
    assert.match(only!.status.chosen!.program, /probes on .*SSL_write/);
    one.sync(new Map<string, MappedFile>());
    assert.equal(one.attached.size, 0, 'detached when nothing maps it');
    assert.equal(one.counters.files_detached, 1);
  } finally {
    await loaded.close();
  }
});

test('a chroot\'s own libssl is found in its library directories, not only its namespace\'s first root', needsRoot, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-chroot-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lib = path.join(dir, 'usr/lib/x86_64-linux-gnu');
  fs.mkdirSync(lib, { recursive: true });
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync('/usr/lib/x86_64-linux-gnu/libssl.so.3', path.join(lib, 'libssl.so.3')); // its own file (inode)
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  // chroot(8) keeps the mount namespace: the sleeper's root differs from the host's, its namespace does not.
  const sleeper = spawn('chroot', [dir, '/bin/busybox', 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => { sleeper.kill(); });
  const st = fs.statSync(path.join(lib, 'libssl.so.3'));
  const want = `${st.ino}:${st.size}:${Math.floor(st.mtimeMs)}`;
  let found: MappedFile | undefined;
  for (let i = 0; i < 100 && !found; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (fs.readlinkSync(`/proc/${sleeper.pid}/root`) !== dir) continue; // chroot(8) not yet in place
    found = new Discovery().scan(new Set()).files.get(want);
  }
  assert.ok(found, 'the chroot\'s libssl.so.3 is a candidate');
  assert.equal(found.path, '/usr/lib/x86_64-linux-gnu/libssl.so.3');
  assert.ok(found.pids.has(sleeper.pid!), 'used by the chroot\'s process');
  assert.ok(fs.existsSync(found.openPath) && found.openPath.startsWith('/proc/'), `opened through /proc: ${found.openPath}`);
});
