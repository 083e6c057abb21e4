// Where the observe server may listen, and taking that place safely: a unix socket path is only ever replaced when
// it is a socket nobody answers on (a stale one from a crash); a regular file there is never deleted, and a live
// socket means another agent serves it. An address beyond loopback must be asked for explicitly.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { StartupError } from '../core/startup-error';

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Throws when the address goes beyond loopback without `allowRemote`; the warning to log otherwise, if any. */
export function checkExposure(listen: { host: string } | { path: string }, allowRemote: boolean, protectedBy: string[]): string | undefined {
  if ('path' in listen || isLoopbackHost(listen.host)) return undefined;
  if (!allowRemote) {
    throw new StartupError(`observe.address ${listen.host} is reachable beyond this host; /metrics and /status describe ` +
      'the node. Set observe.allowRemote: true to mean it (with observe.bearerTokenFile or observe.tls), or listen on 127.0.0.1');
  }
  if (protectedBy.length === 0) {
    return `observe: serving /metrics and /status on ${listen.host} beyond loopback with neither a bearer token nor TLS; ` +
      'anyone who can reach the port reads the node\'s state (set observe.bearerTokenFile and/or observe.tls)';
  }
  return undefined;
}

/** Make way for a unix socket at `socketPath`: remove a stale socket, refuse anything else. */
export async function clearStaleSocket(socketPath: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) {
    throw new StartupError(`observe.address ${socketPath} exists and is not a socket; refusing to replace it ` +
      '(choose a path for the socket that is not a file)');
  }
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (live) throw new StartupError(`observe.address ${socketPath}: another process (another Tapio agent?) serves this socket`);
  fs.unlinkSync(socketPath);
}

/** Remove our socket at close, only if the path still is the socket we made (same inode). */
export function removeOwnSocket(socketPath: string, ino: number | undefined): void {
  try {
    const st = fs.lstatSync(socketPath);
    if (st.isSocket() && st.ino === ino) fs.unlinkSync(socketPath);
  } catch { /* gone */ }
}

/** The observe.* access settings as server options: files read now, a clear error when one cannot be read. */
export function observeAccess(c: { allowRemote: boolean; bearerTokenFile?: string; tls?: { certFile: string; keyFile: string };
  maxConnections: number }): { allowRemote: boolean; bearerToken?: string; tls?: { cert: Buffer; key: Buffer }; maxConnections: number } {
  const read = (file: string, what: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new StartupError(`${what}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  const token = c.bearerTokenFile ? read(c.bearerTokenFile, 'observe.bearerTokenFile').toString('utf8').trim() : undefined;
  if (c.bearerTokenFile && !token) throw new StartupError(`observe.bearerTokenFile: ${c.bearerTokenFile} is empty`);
  return {
    allowRemote: c.allowRemote,
    bearerToken: token,
    tls: c.tls && { cert: read(c.tls.certFile, 'observe.tls.certFile'), key: read(c.tls.keyFile, 'observe.tls.keyFile') },
    maxConnections: c.maxConnections,
  };
}
