// Test helpers for real peers: a byte-recording TCP proxy on loopback (client -> proxy -> server, both directions
// recorded with their chunk boundaries as they come), replay of a recording into ProtocolSession, a bounded wait
// for child processes, and truncation of recordings to simulate bytes the kernel did not copy.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import type { RequestRecord } from '../../src/core/request';
import { ProtocolSession, type CapturedChunk, type SessionOptions } from '../../src/protocols/session';
import { totalLost, type ProtocolCounters } from '../../src/protocols/types';

/** Chunks of one proxied connection, from the client's point of view (send = client -> server). */
export type Recording = CapturedChunk[];

export interface RecordingProxy {
  port: number;
  connections: Recording[];
  /** Resolves once every connection accepted so far has closed on both ends. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function recordingProxy(targetPort: number): Promise<RecordingProxy> {
  const connections: Recording[] = [];
  let open = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const rec: Recording = [];
    connections.push(rec);
    open++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    const note = (direction: 'send' | 'recv') => (d: Buffer) => {
      rec.push({ direction, data: Uint8Array.from(d), length: d.length, timeNs: process.hrtime.bigint() });
    };
    client.on('data', note('send'));
    upstream.on('data', note('recv'));
    client.pipe(upstream);
    upstream.pipe(client);
    let closed = 0;
    const done = () => { if (++closed === 2) open--; };
    // a peer that closes ends the other side too, once what it wrote has been flushed
    client.on('close', () => { done(); upstream.destroySoon(); });
    upstream.on('close', () => { done(); client.destroySoon(); });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    async idle(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (open > 0) {
        if (Date.now() > deadline) throw new Error(`proxy: ${open} connections still open after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Replay { records: RequestRecord[]; counters: ProtocolCounters; lost: number; protocol: string; sessions: ProtocolSession[] }

/** Feeds recorded connections to sessions observing the client (or the server) and gathers what they report. */
export function replay(connections: Recording[], role: 'client' | 'server', options?: SessionOptions): Replay {
  const records: RequestRecord[] = [];
  const sessions: ProtocolSession[] = [];
  for (const conn of connections) {
    const s = new ProtocolSession(role, options);
    for (const c of conn) {
      // the server's view of the same bytes: what the client sent, the server received
      const direction = role === 'client' ? c.direction : c.direction === 'send' ? 'recv' : 'send';
      s.push({ ...c, direction });
      records.push(...s.takeRequests());
    }
    s.close(conn.length > 0 ? conn[conn.length - 1]!.timeNs : 0n);
    records.push(...s.takeRequests());
    sessions.push(s);
  }
  const counters = sessions.map((s) => s.counters).reduce(sumCounters);
  const protocols = [...new Set(sessions.map((s) => s.protocol))].join(',');
  return { records, counters, lost: totalLost(counters), protocol: protocols, sessions };
}

function sumCounters(a: ProtocolCounters, b: ProtocolCounters): ProtocolCounters {
  const out = { ...a, lost: { ...a.lost } } as ProtocolCounters;
  for (const k of Object.keys(b) as (keyof ProtocolCounters)[]) {
    if (k === 'lost') for (const r of Object.keys(b.lost) as (keyof ProtocolCounters['lost'])[]) out.lost[r] += b.lost[r];
    else (out as unknown as Record<string, number>)[k] = (a[k] as number) + (b[k] as number);
  }
  return out;
}

/** Runs a program to completion (bounded); resolves with its output, rejects on a non-zero exit or timeout. */
export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} timed out`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr }); else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

/** A copy of the recordings where some chunks lost their tail (length kept, data cut), chosen by a seeded PRNG. */
export function truncate(connections: Recording[], seed: number, everyNth: number, keepAtMost: number): Recording[] {
  let x = seed >>> 0;
  const rand = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
  return connections.map((conn) => conn.map((c) => {
    if (c.data.length < 2 || rand() * everyNth >= 1) return c;
    const keep = Math.floor(rand() * Math.min(keepAtMost, c.data.length - 1));
    return { ...c, data: c.data.subarray(0, keep) };
  }));
}
