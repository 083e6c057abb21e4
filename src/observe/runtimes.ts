// What the agent says about container runtime sockets: in /readyz and /status (which sockets are connected, which
// are present but failing and why, which are absent) and in /metrics (one state series per socket). A failing
// runtime never makes the agent unready: host processes and cgroup paths still give identity.
import * as fs from 'node:fs';
import { Gauge, type Registry } from 'prom-client';
import type { ReadinessCheck } from './sources';

/** What observe reads of one runtime socket (identity's EndpointStatus has this shape). */
export interface RuntimeSocketStatus {
  kind: string;
  socket: string;
  runtime: string;
  state: 'connecting' | 'connected' | 'waiting' | 'stopped';
  containers: number;
  failures: number;
  lastError?: string;
}
type EndpointStatus = RuntimeSocketStatus;

/** A socket is "present" when its path exists: then a failure is a real problem, not just "not installed". */
const present = (r: EndpointStatus): boolean => fs.existsSync(r.socket);

export function runtimeReadiness(stats: () => EndpointStatus[]): ReadinessCheck {
  return {
    name: 'identity.runtimes',
    check: () => {
      const st = stats();
      const up = st.filter((r) => r.state === 'connected').map((r) => `${r.runtime} ${r.socket} (${r.containers} containers)`);
      const failing = st.filter((r) => r.state !== 'connected' && present(r))
        .map((r) => `${r.kind} ${r.socket}: ${r.lastError ?? r.state}`);
      const parts: string[] = [];
      if (up.length) parts.push(`connected: ${up.join(', ')}`);
      if (failing.length) parts.push(`present but failing: ${failing.join('; ')}`);
      if (!up.length && !failing.length) parts.push('no runtime socket present (host processes only)');
      return { ready: true, detail: parts.join('; ') };
    },
  };
}

const STATES = ['connected', 'connecting', 'waiting', 'absent'] as const;

/** tapio_runtime_socket_state{kind,socket,state} (1 for the current state) and failures per socket. */
export function registerRuntimeMetrics(registry: Registry, stats: () => EndpointStatus[]): void {
  new Gauge({
    name: 'tapio_runtime_socket_state',
    help: 'Container runtime socket state (1 for the current one): connected, connecting, waiting (failing, retrying) or absent',
    labelNames: ['kind', 'socket', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of stats()) {
        const now = r.state === 'connected' ? 'connected' : !present(r) ? 'absent' : r.state === 'connecting' ? 'connecting' : 'waiting';
        for (const s of STATES) this.set({ kind: r.kind, socket: r.socket, state: s }, s === now ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'tapio_runtime_socket_failures',
    help: 'Failed connection attempts or lost connections per container runtime socket since start',
    labelNames: ['kind', 'socket'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of stats()) this.set({ kind: r.kind, socket: r.socket }, r.failures);
    },
  });
}
