// Test helper: the real agent with the requests collector (real kernel capture, real protocol sessions), every
// output a user could read wired up: console JSON (into a string), OTLP to a real receiver (test/export/receiver.ts,
// optionally with an encrypted disk spool), and an in-memory sink to wait on. Tests count what each scenario made
// against what was reported and what was counted lost.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { parseConfig } from '../../../src/config/load';
import type { TapioConfig } from '../../../src/config/schema';
import { Agent } from '../../../src/agent/agent';
import { DropCounters } from '../../../src/core/drops';
import type { TapioEvent } from '../../../src/core/event';
import { ConsoleSink } from '../../../src/export/console';
import { createOtlpExporter, type OtlpExporter } from '../../../src/export/otlp';
import { decodeSpoolFile, loadSpoolKey } from '../../../src/export/spool-file';
import { OtlpReceiver } from '../../export/receiver';
import { CollectingSink } from '../../helpers/agent';
import { tapioResource } from '../../../src/export/resource';
import { IdentityResolver } from '../../../src/identity';
import { enrichWith } from '../../../src/agent/services';
import { KernelLimits, kindNumber } from '../../../src/pipeline/limits';
import type { LoadedCollector } from '../../../src/kernel/loader';

export interface RequestsAgent {
  agent: Agent;
  sink: CollectingSink;
  drops: DropCounters;
  receiver: OtlpReceiver;
  otlp: OtlpExporter;
  /** Everything the console sink wrote (JSON lines). */
  console(): string;
  /** Every spool file decrypted (the serialized OTLP requests waiting on disk), as latin1 text to grep. */
  spoolText(): string;
  spoolFiles(): number;
  /** Requests the parsers counted lost so far (drop registry, stage `protocol`). */
  lost(): number;
  dir: string;
  stop(): Promise<void>;
}

export interface RequestsAgentOptions {
  /** Start with the collector down (batches go to the spool until receiver.start()). */
  receiverDown?: boolean;
  enrich?: (e: TapioEvent) => void;
  identityGate?: ConstructorParameters<typeof Agent>[0]['identityGate'];
  cgroupChanged?: ConstructorParameters<typeof Agent>[0]['cgroupChanged'];
  only?: string[];
  configure?: (c: TapioConfig) => void;
}

export async function startRequestsAgent(o: RequestsAgentOptions = {}): Promise<RequestsAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-req-'));
  const keyFile = path.join(dir, 'spool.key');
  fs.writeFileSync(keyFile, randomBytes(32));
  const receiver = new OtlpReceiver({ protocol: 'http' });
  await receiver.start();
  if (o.receiverDown) await receiver.stop(); // keeps its port: start() later brings the collector up there
  const config = parseConfig('');
  config.collectors.requests.enabled = true;
  config.limits.rateLimits = {}; // every request of a test is reported or counted lost, none rate-limited away
  o.configure?.(config);
  const drops = new DropCounters();
  const otlp = createOtlpExporter({
    ...config.export.otlp, enabled: true, endpoint: receiver.url, protocol: 'http/protobuf',
    logs: { ...config.export.otlp.logs, enabled: false },
    metrics: { ...config.export.otlp.metrics, intervalMs: 500 },
    batch: { maxRecords: 512, delayMs: 100 },
    retry: { initialBackoffMs: 200, maxBackoffMs: 500 },
    spool: { ...config.export.otlp.spool, dir: path.join(dir, 'spool'), keyFile, fsync: false },
  }, { drops, env: {}, log: () => undefined, resource: tapioResource({ nodeName: 'test-node', env: {} }) });
  await otlp.ready;
  const out = new PassThrough();
  let consoleText = '';
  out.on('data', (d: Buffer) => { consoleText += d.toString(); });
  const sink = new CollectingSink();
  const agent = new Agent({
    config, drops, sinks: [sink, Object.assign(new ConsoleSink(out, 'json', drops), { name: 'console' }),
      { name: 'otlp', write: (events) => otlp.export(events) }],
    only: o.only ?? ['requests'], enrich: o.enrich, identityGate: o.identityGate, cgroupChanged: o.cgroupChanged,
    log: () => undefined,
  });
  await agent.start();
  const spoolPaths = (): string[] => {
    const root = path.join(dir, 'spool');
    if (!fs.existsSync(root)) return [];
    return fs.readdirSync(root).flatMap((sig) => {
      const d = path.join(root, sig);
      return fs.statSync(d).isDirectory() ? fs.readdirSync(d).filter((f) => f.endsWith('.spool')).map((f) => path.join(d, f)) : [];
    });
  };
  const key = loadSpoolKey(keyFile);
  return {
    agent, sink, drops, receiver, otlp, dir,
    console: () => consoleText,
    spoolFiles: () => spoolPaths().length,
    spoolText: () => spoolPaths().map((f) => {
      const seq = BigInt(path.basename(f, '.spool'));
      return Buffer.from(decodeSpoolFile(fs.readFileSync(f), seq, key).payload).toString('latin1');
    }).join('\n'),
    lost: () => drops.total({ stage: 'protocol' }),
    async stop() {
      await agent.stop();
      await otlp.shutdown();
      await receiver.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The request events of one server port, by side. */
export function requestsOn(sink: CollectingSink, port: number): { server: TapioEvent[]; client: TapioEvent[] } {
  const mine = sink.events.filter((e) => e.request && e.attributes['server.port'] === port);
  return { server: mine.filter((e) => e.request!.side === 'server'), client: mine.filter((e) => e.request!.side === 'client') };
}

/** A loopback port free a moment ago, for a server that must be told its port in a config file. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls until pred() holds (bounded). */
export async function until(what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The requests agent with the real identity layer reading a Docker harness (container.* on every event). */
export async function startDockerRequestsAgent(dockerSocket: string, configure?: (c: TapioConfig) => void): Promise<{ ra: RequestsAgent; identity: IdentityResolver }> {
  const config = parseConfig('');
  config.identity.runtimes.endpoints = [{ kind: 'docker', socket: dockerSocket }];
  config.identity.kubernetes.enabled = false;
  const identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  const ra = await startRequestsAgent({
    only: ['cgroup', 'requests'], enrich: enrichWith(identity, undefined), identityGate: identity,
    cgroupChanged: (c) => identity.cgroupChanged(c), configure,
  });
  return { ra, identity };
}

/** The agent's request collector, as tests read it: its counters (kernel_*, requests_*), kernel objects and hooks. */
export function requestsCollector(ra: RequestsAgent): {
  counters(): Record<string, number>; kernelObjects(): LoadedCollector[]; status(): { hooks: { name: string; chosen?: unknown }[] } } {
  return ra.agent.collectors.find((c) => c.name === 'requests')! as unknown as ReturnType<typeof requestsCollector>;
}

/** Kernel sampling of a kind (1 in n), written to the request collector's objects the way the adaptive controller
 *  writes it. */
export function sampleEvery(ra: RequestsAgent, kind: string, n: number): void {
  for (const obj of requestsCollector(ra).kernelObjects()) KernelLimits.of(obj)?.setSampleEvery(kindNumber(kind)!, n);
}
