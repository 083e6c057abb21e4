// Listening TCP sockets that existed before the agent started, and the process that owns each, read from /proc
// once at start and written into the kernel's listen_owners map. The handshake accept hook (network.bpf.c,
// accept_handshake_btf) names a listener's owner on each accepted connection; it learns listeners opened later at
// listen() itself. Without this seed, accepts on older listeners would carry only the cgroup, not the process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MapUpdateFlags, type BpfMap } from '../../kernel/maps';

const TCP_LISTEN = '0A';
const ROLE_SERVER = 2;
// struct listen_key { u32 netns; u16 port; u16 pad; } and struct tcp_conn (bpf/include/network.h).
const KEY_SIZE = 8;
const CONN_SIZE = 32;
const CONN_PID = 16;
const CONN_TID = 20;
const CONN_ROLE = 24;

export interface ListenerOwner {
  netns: number;
  port: number;
  pid: number;
}

/** Listening sockets' inode -> port, from one namespace's /proc/<pid>/net/tcp and tcp6. */
function listeningInodes(procRoot: string, pid: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(procRoot, pid, 'net', table), 'utf8');
    } catch {
      continue; // no IPv6, or the process exited
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
      const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
      if (Number.isInteger(port) && f[9] !== '0') out.set(f[9]!, port);
    }
  }
  return out;
}

/** Every listening TCP socket on the node (all network namespaces) with the lowest pid holding it. */
export function findListenerOwners(procRoot = '/proc'): ListenerOwner[] {
  const pids = fs.readdirSync(procRoot).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
  const byNetns = new Map<number, Map<string, number>>();
  const seen = new Set<string>();
  const owners: ListenerOwner[] = [];
  for (const pid of pids) {
    let netns: number;
    let fds: string[];
    try {
      netns = Number(/\[(\d+)\]/.exec(fs.readlinkSync(path.join(procRoot, pid, 'ns', 'net')))?.[1]);
      fds = fs.readdirSync(path.join(procRoot, pid, 'fd'));
    } catch {
      continue; // exited, or a kernel thread
    }
    let listening = byNetns.get(netns);
    if (!listening) {
      listening = listeningInodes(procRoot, pid);
      byNetns.set(netns, listening);
    }
    if (listening.size === 0) continue;
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(path.join(procRoot, pid, 'fd', fd));
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const port = inode ? listening.get(inode) : undefined;
      if (port === undefined || seen.has(`${netns}:${port}`)) continue;
      seen.add(`${netns}:${port}`);
      owners.push({ netns, port, pid: Number(pid) });
    }
  }
  return owners;
}

/** Write the owners into listen_owners; a listener the kernel already saw at listen() keeps that entry. */
export function seedListenOwners(map: BpfMap, owners: readonly ListenerOwner[]): number {
  if (map.keySize !== KEY_SIZE || map.valueSize !== CONN_SIZE) {
    throw new Error(`listen_owners has key ${map.keySize} / value ${map.valueSize} bytes, expected ${KEY_SIZE} / ${CONN_SIZE}`);
  }
  let written = 0;
  for (const o of owners) {
    const key = Buffer.alloc(KEY_SIZE);
    key.writeUInt32LE(o.netns >>> 0, 0);
    key.writeUInt16LE(o.port, 4);
    const value = Buffer.alloc(CONN_SIZE); // cgroup_id 0: the kernel keeps the socket's own cgroup
    value.writeUInt32LE(o.pid, CONN_PID);
    value.writeUInt32LE(o.pid, CONN_TID);
    value.writeUInt8(ROLE_SERVER, CONN_ROLE);
    try {
      map.update(key, value, MapUpdateFlags.NOEXIST);
      written++;
    } catch { /* already known from listen(), or the map is full (LRU: it is not) */ }
  }
  return written;
}
