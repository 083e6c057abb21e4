// What @kubernetes/client-node costs the agent's memory (issue 14: RSS ≤ 150 MB). Needs root (part 2 loads BPF).
//  1. The library alone, each way of loading it in a fresh process (Node flags as in the image): V8 heap and RSS
//     after a full collection, against a process that loads nothing. Its entry point, the two files the agent uses
//     of it: config.js (KubeConfig) and cache.js (ListWatch), and the bundle of those two the agent loads
//     (scripts/build-kubernetes-client.js).
//  2. `tapio run --output none` (default collectors) in host mode and in cluster mode (a kubeconfig pointing at the
//     FAKE API server of test/helpers/fake-apiserver.ts, in a child process: no real API server can run on this
//     machine), alternating, each after settling: RSS (PSS) by holder and the V8 heap (the agent's own /metrics).
//     BENCH_BASELINE=/work/main adds that checkout's agent in both modes, alternating with this one.
// Run: npx tsc -p . && sudo node dist/bench/kubernetes-memory.js   (BENCH_ROUNDS=2, BENCH_SETTLE=40 seconds)
import { execFileSync, fork, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeKubeconfig } from '../test/identity/kubernetes-helpers';
import { formatMemory, memoryOf } from './e2e/memory';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BASELINE = process.env.BENCH_BASELINE;
const SETTLE_S = Number(process.env.BENCH_SETTLE ?? 40);
const ROOT = path.join(__dirname, '..', '..');
const NODE_FLAGS = ['--max-semi-space-size=4']; // scripts/image/Dockerfile's ENTRYPOINT
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const f0 = (n: number) => n.toFixed(1);

/** V8 heap in use and RSS after a full collection, MiB, in a fresh process that requires `what` (or nothing). */
function loadCost(what: string | undefined): { heap: number; rss: number; ms: number } {
  const script = `
    const t0 = Date.now();
    ${what ? `require(${JSON.stringify(what)});` : ''}
    const ms = Date.now() - t0;
    global.gc(); global.gc();
    const u = process.memoryUsage();
    process.stdout.write(JSON.stringify({ heap: u.heapUsed / 2 ** 20, rss: u.rss / 2 ** 20, ms }));`;
  return JSON.parse(execFileSync(process.execPath, [...NODE_FLAGS, '--expose-gc', '-e', script], { cwd: ROOT, encoding: 'utf8' }));
}

/** GET over the agent's observe unix socket. */
function scrape(socketPath: string, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: urlPath }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function agentRow(root: string, dir: string, kubeconfig: string | undefined, served: () => Promise<number>): Promise<string> {
  const sock = path.join(dir, `observe-${Date.now()}.sock`);
  const cfg = path.join(dir, `config-${Date.now()}.yaml`);
  fs.writeFileSync(cfg, [`observe: { address: ${sock} }`,
    `identity: { kubernetes: { ${kubeconfig ? `kubeconfig: ${kubeconfig}` : 'enabled: false'} } }`,
    'node: { name: node-0 }'].join('\n'));
  const child = spawn(process.execPath, [...NODE_FLAGS, path.join(root, 'bin', 'tapio.js'), 'run', '--output', 'none', '--config', cfg],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
  let err = '';
  child.stderr!.on('data', (d) => { err = (err + d).slice(-2000); });
  try {
    await sleep(SETTLE_S * 1000);
    if (child.exitCode !== null) throw new Error(`tapio run exited: ${err}`);
    const metrics = await scrape(sock, '/metrics');
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
    const requests = await served();
    if (kubeconfig && requests === 0) throw new Error('the agent never asked the fake API server');
    const mode = kubeconfig ? `cluster (kubeconfig; the fake API server answered ${requests} requests)` : 'host';
    return `| ${root === ROOT ? 'this branch' : root} | ${mode} | ${formatMemory(memoryOf(child.pid!))} | ${f0(heap)} | ${load()} |`;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: `tapio run` loads BPF programs');
  console.log(`\n## 1. Loading @kubernetes/client-node alone (fresh process each, ${NODE_FLAGS.join(' ')}, after a full GC; load average ${load()})`);
  console.log('| what is required | V8 heap MiB (more than nothing) | RSS MiB (more than nothing) | ms to load |');
  console.log('|---|---|---|---|');
  const none = loadCost(undefined);
  for (const what of ['@kubernetes/client-node', '@kubernetes/client-node/dist/config.js', '@kubernetes/client-node/dist/cache.js',
    './dist/vendor/kubernetes-client.js']) {
    const c = loadCost(what);
    console.log(`| ${what} | ${f0(c.heap - none.heap)} | ${f0(c.rss - none.rss)} | ${c.ms} |`);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-k8s-memory-'));
  const fake = fork(path.join(__dirname, 'kubernetes-fake-child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    // A small cluster: 30 pods on this node (of 40 Deployments' worth), 10 other nodes, 200 Services.
    const url = await new Promise<string>((resolve) => {
      fake.once('message', (m: { url: string }) => resolve(m.url));
      fake.send({ fill: { nodes: 11, podsPerNode: 30, podsOnAgentNode: 30, services: 200, endpointsPerService: 3 } });
    });
    const kubeconfig = writeKubeconfig(dir, url);
    const before = load();
    const served = () => new Promise<number>((resolve) => {
      fake.once('message', (m: { stats: { requests: unknown[] } }) => resolve(m.stats.requests.length));
      fake.send({ stats: true, reset: true });
    });
    const rows: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const root of BASELINE ? [ROOT, BASELINE] : [ROOT]) {
        rows.push(await agentRow(root, dir, undefined, served));
        rows.push(await agentRow(root, dir, kubeconfig, served));
      }
    }
    console.log(`\n## 2. \`tapio run --output none\` after ${SETTLE_S} s, host mode and cluster mode alternating (load average ${before} before)`);
    console.log('| agent | mode | RSS (PSS) MiB: BPF maps (PSS) + C heap + other anonymous + files | V8 heap used MiB | load average at the end |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    fake.send({ stop: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
