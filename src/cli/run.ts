// `tapio run`: the agent on this node, printing events on the console (and exporting them where configured).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load';
import { ConsoleSink, type ConsoleFormat } from '../export/console';
import { Agent } from '../agent/agent';
import { formatSummary } from './summary';
import { createRuntimeServices } from '../agent/services';
import { DropCounters } from '../core/drops';

const HELP = `Usage: tapio run [options]

  --config <file>      YAML/JSON config (default: none; every setting has a safe default)
  --output <format>    json (one object per line) | pretty (aligned lines; default on a terminal) | none
  --duration <s>       stop cleanly after this many seconds
  --events <names>     comma-separated event names or prefixes (e.g. process.exec,network; http,grpc turn on
                       request capture)
  --pid <pids>         only events of these process ids (comma-separated)
  --comm <names>       only events of these executable names (comma-separated)
  --stats <s>          print the summary on stderr every <s> seconds (it is always printed on exit)
`;

function list(v: string | undefined): string[] | undefined {
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

export async function runAgentCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        output: { type: 'string' },
        duration: { type: 'string' },
        events: { type: 'string' },
        pid: { type: 'string' },
        comm: { type: 'string' },
        stats: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`tapio run: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const output = (values.output ?? (process.stdout.isTTY ? 'pretty' : 'json')) as ConsoleFormat | 'none';
  if (!['json', 'pretty', 'none'].includes(output)) {
    process.stderr.write(`tapio run: --output must be json, pretty or none, not '${output}'\n`);
    return 2;
  }
  const duration = values.duration !== undefined ? Number(values.duration) : undefined;
  const statsEvery = values.stats !== undefined ? Number(values.stats) : undefined;
  const pids = list(values.pid)?.map(Number);
  for (const [name, v] of [['--duration', duration], ['--stats', statsEvery]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      process.stderr.write(`tapio run: ${name} must be a positive number of seconds\n`);
      return 2;
    }
  }
  if (pids?.some((p) => !Number.isInteger(p) || p <= 0)) {
    process.stderr.write('tapio run: --pid takes comma-separated process ids\n');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('tapio run: needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load BPF programs\n');
    return 1;
  }
  let config;
  try {
    config = loadConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tapio run: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  // Asking to see requests turns their capture on (it is off by default: it costs CPU on busy nodes).
  if (list(values.events)?.some((n) => n === 'http' || n === 'grpc' || n.startsWith('http.') || n.startsWith('grpc.'))) {
    config.collectors.requests.enabled = true;
  }

  // From here on a SIGINT/SIGTERM (Kubernetes stopping the pod) means: finish starting, then stop cleanly,
  // delivering what the kernel already handed over and printing the summary.
  // A promise nobody awaited that fails is a bug to fix, but not a reason to stop watching the node: say it loudly
  // (with the stack) and keep running. Uncaught exceptions still end the process (its state may be broken).
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`tapio: BUG: unhandled rejection (the agent keeps running): ${(reason as Error)?.stack ?? reason}\n`);
  });
  let requestStop = (): void => undefined;
  const stopRequested = new Promise<void>((resolve) => { requestStop = resolve; });
  process.once('SIGINT', () => requestStop());
  process.once('SIGTERM', () => requestStop());
  const drops = new DropCounters();
  const services = await createRuntimeServices(config, drops);
  const agent = new Agent({
    config,
    drops,
    sinks: [...services.sinks],
    filter: { events: list(values.events), pids, comms: list(values.comm) },
    enrich: services.enrich,
    identityGate: services.identity,
    cgroupChanged: services.identity && ((c) => services.identity!.cgroupChanged(c)),
  });
  if (output !== 'none') agent.pipeline.addSink(Object.assign(new ConsoleSink(process.stdout, output, agent.drops), { name: 'console' }));
  await agent.start();
  await services.afterStart?.(agent);

  let statsTimer: NodeJS.Timeout | undefined;
  if (statsEvery) statsTimer = setInterval(() => process.stderr.write(formatSummary(agent.status())), statsEvery * 1000);

  // --duration counts from when the agent is running. The interval keeps the process alive until asked to stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  if (duration) setTimeout(requestStop, duration * 1000).unref();
  await stopRequested;
  clearInterval(keepAlive);
  if (statsTimer) clearInterval(statsTimer);
  await services.beforeAgentStop();
  await agent.stop();
  await services.stop();
  process.stderr.write(formatSummary(agent.status()));
  return 0;
}
