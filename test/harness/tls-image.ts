// A root filesystem for TLS tests inside containers: busybox (sh, sleep) plus the host's curl and every library it
// loads (its own copy of libssl.so.3, so a different file than the host's), imported with `docker import`. Offline.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TLS_CURL_IMAGE = 'tapio/tls-curl:test';

/** The shared libraries (and the loader) a binary needs, from ldd. */
function libraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return out.split('\n').flatMap((l) => {
    const m = /=>\s+(\/\S+)/.exec(l) ?? /^\s*(\/\S+)\s+\(/.exec(l);
    return m ? [m[1]] : [];
  });
}

function copyInto(rootfs: string, file: string): void {
  const dest = path.join(rootfs, file);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(fs.realpathSync(file), dest);
  fs.chmodSync(dest, 0o755);
}

/** Builds the tarball of that root filesystem under workDir; returns its path. */
export function buildTlsCurlRootfs(workDir: string): string {
  const rootfs = path.join(workDir, 'tls-rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'sleep', 'cat', 'ls']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const curl = fs.realpathSync('/usr/bin/curl');
  copyInto(rootfs, '/usr/bin/curl');
  for (const lib of libraries(curl)) copyInto(rootfs, lib);
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  const tar = path.join(workDir, 'tls-rootfs.tar');
  execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tar, '.'], { stdio: 'pipe' });
  return tar;
}
