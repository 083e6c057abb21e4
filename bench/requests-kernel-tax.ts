// What request capture costs every socket syscall of the node, from the workload's side (needs root): thread CPU per
// HTTP/1-shaped exchange over TCP loopback (bench/requests/exchange-tax.c: four socket syscalls, both ends), the
// minimum over rounds, with no program attached, with empty programs on the same tracepoints (the floor any program
// there pays), and with request capture (and TLS capture) loaded: the exchange's connection not captured (sampled
// out: what most connections of a busy node cost under the agent's budget) and captured (every request parsed). The
// setups alternate BENCH_ROUNDS times. BENCH_COMPARE_ROOT adds another build's agent (its dist/ as setup leaves it).
// Prints a table; never fails on a number.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCollector, type LoadedCollector } from '../src/kernel/loader';
import { waitLine } from './requests/proc';

const ROOT = path.join(__dirname, '..', '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 50_000);
const COMPARE_ROOT = process.env.BENCH_COMPARE_ROOT;

interface Setup { name: string; start(): Promise<() => Promise<void>> }

function agent(name: string, root: string, sampleEvery: number, tls: boolean): Setup {
  return {
    name,
    async start() {
      const child: ChildProcess = spawn(process.execPath, [path.join(root, 'dist', 'bench', 'requests', 'tax-child.js'), String(sampleEvery), tls ? 'tls' : 'notls'],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      await waitLine(child, /ready/, 120_000);
      return async () => {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      };
    },
  };
}

const SETUPS: Setup[] = [
  { name: 'no program', async start() { return async () => undefined; } },
  {
    name: 'empty programs on sock_send_length / sock_recv_length',
    async start() {
      const loaded: LoadedCollector = await loadCollector({ name: 'empty_socket', object: 'testing/empty_socket.bpf.o', hooks: [
        { name: 'send', implementations: [{ kind: 'tp_btf', program: 'empty_send' }] },
        { name: 'recv', implementations: [{ kind: 'tp_btf', program: 'empty_recv' }] }] });
      if (!loaded.available) throw new Error(loaded.unavailableReasons().join('; '));
      return () => loaded.close();
    },
  },
  agent('request + TLS capture, this connection not captured', ROOT, 1_000_000, true),
  agent('request capture without TLS, not captured', ROOT, 1_000_000, false),
  agent('request + TLS capture, this connection captured (every request parsed)', ROOT, 1, true),
  ...(COMPARE_ROOT ? [agent(`request + TLS capture, not captured: the build in ${COMPARE_ROOT}`, COMPARE_ROOT, 1_000_000, true)] : []),
];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('requests-kernel-tax: needs root'); return; }
  const bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-exchange-')), 'exchange-tax');
  execFileSync('cc', ['-O2', '-o', bin, path.join(ROOT, 'bench', 'requests', 'exchange-tax.c')]);
  const results = new Map<string, number[]>();
  const load0 = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of SETUPS) {
      const stop = await s.start();
      try {
        const ns = Number(execFileSync(bin, [String(ITERATIONS), '5'], { encoding: 'utf8' }));
        results.set(s.name, [...(results.get(s.name) ?? []), ns]);
      } finally {
        await stop();
      }
    }
  }
  const min = (name: string) => Math.min(...results.get(name)!);
  const none = min(SETUPS[0]!.name);
  console.log(`Kernel tax of an HTTP/1 exchange (4 socket syscalls, both ends on one CPU; thread CPU, min of ${ROUNDS} rounds x 5 x ${ITERATIONS}; load average ${load0} before, ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} after)`);
  console.log('| setup | ns per exchange | tax over no program | per socket syscall | every round |');
  console.log('|---|---|---|---|---|');
  for (const s of SETUPS) {
    const v = min(s.name);
    console.log(`| ${s.name} | ${v.toFixed(0)} | ${(v - none).toFixed(0)} | ${((v - none) / 4).toFixed(0)} | ${results.get(s.name)!.map((x) => x.toFixed(0)).join(', ')} |`);
  }
}

void main();
