// Test helper: nghttpd (nghttp2's server) over h2c on a free loopback port, serving /index.html, for loads made with
// h2load. Both come with Debian's nghttp2-server and nghttp2-client (scripts/setup.sh installs them).
import type { TestContext } from 'node:test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, until } from './agent';

const which = (cmd: string) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => fs.existsSync(path.join(d, cmd)));

/** The port of an nghttpd serving an /index.html of `bodyBytes` bytes, stopped (and its directory removed) after the
 *  test; undefined, with the test skipped, where h2load or nghttpd is missing. */
export async function startNghttpd(t: TestContext, bodyBytes: number): Promise<number | undefined> {
  if (!which('h2load') || !which('nghttpd')) { t.skip('h2load or nghttpd missing (scripts/setup.sh installs nghttp2-client and nghttp2-server)'); return undefined; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-nghttpd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'index.html'), 'x'.repeat(bodyBytes));
  const port = await freePort();
  const nghttpd = spawn('nghttpd', ['--no-tls', '-d', dir, '-a', '127.0.0.1', String(port)], { stdio: 'ignore' });
  t.after(() => nghttpd.kill('SIGKILL'));
  const listening = `:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
  await until('nghttpd to listen', () => fs.readFileSync('/proc/net/tcp', 'utf8').includes(listening));
  return port;
}
