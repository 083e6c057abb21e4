// `tapio run`: the agent on this node, printing events on the console (and exporting them where configured).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load';
import { ConsoleSink, type ConsoleFormat } from '../export/console';
import { Agent } from '../agent/agent';
import { formatSummary } from './summary';
import { createRuntimeServices } from '../agent/services';
import { DropCounters } from '../core/drops';
import { exitSoonEvenIfBusy, startupFailure, withinDeadline } from '../agent/startup';
import { lockDirectory, type DirLock } from '../agent/lock';
import { checkCapabilities } from '../kernel/capabilities';
import { ConfigReloader } from '../agent/reload';
import * as fs from 'node:fs';

const HELP = `Usage: tapio run [options]

  --config <file>      YAML/JSON config (default: none; every setting has a safe default)
  --check-config <file> only validate the config file and exit (0 and one OK line, or 2 and the errors)
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

/** `--check-config FILE`: what a ConfigMap change or a CI step runs before rolling a config out. */
function checkConfigFile(file: string): number {
  try {
    loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tapio run: ${e.message}\n`);
    return 2;
  }
  process.stdout.write(`tapio run: ${file}: configuration OK\n`);
  return 0;
}

/** The config text the agent started with (its hash tells a real change from a touch); '' if it vanished since. */
function readOr(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return ''; }
}

export async function runAgentCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'check-config': { type: 'string' },
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
  if (values['check-config'] !== undefined) return checkConfigFile(values['check-config']);
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
  const caps = checkCapabilities();
  if (!caps.canLoad) {
    process.stderr.write(`tapio run: ${caps.error}\n`);
    return 1;
  }
  for (const w of caps.warnings) process.stderr.write(`tapio: ${w}\n`);
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
  let services;
  let spoolLock: DirLock | undefined;
  try {
    if (config.export.otlp.spool.dir) spoolLock = lockDirectory(config.export.otlp.spool.dir, 'spool directory');
    services = await createRuntimeServices(config, drops);
  } catch (e) {
    const failure = startupFailure(e);
    if (!failure) throw e;
    process.stderr.write(`tapio run: ${failure.message}\n`);
    return failure.exitCode;
  }
  const agent = new Agent({
    config,
    drops,
    sinks: [...services.sinks],
    filter: { events: list(values.events), pids, comms: list(values.comm) },
    enrich: services.enrich,
    identityGate: services.identity,
    cgroupChanged: services.identity && ((c) => services.identity!.cgroupChanged(c)),
  });
  if (output !== 'none') agent.pipeline.addSink(new ConsoleSink(process.stdout, output, agent.drops, undefined, services.resourceAttributes));
  await agent.start();
  const loaded = agent.collectors.filter((c) => c.status().available).length;
  if (loaded === 0) {
    // Nothing to watch with: exit non-zero so the pod restarts and the reason shows, instead of a quiet agent.
    process.stderr.write('tapio run: no collector could load (see the reasons above); exiting\n');
    await withinDeadline(10_000, async () => { await agent.stop(); await services.stop(); });
    spoolLock?.release();
    exitSoonEvenIfBusy(1);
    return 1;
  }
  try {
    await services.afterStart?.(agent);
  } catch (e) {
    const failure = startupFailure(e);
    if (!failure) throw e;
    process.stderr.write(`tapio run: ${failure.message}\n`);
    await withinDeadline(10_000, async () => { await services.beforeAgentStop(); await agent.stop(); await services.stop(); });
    spoolLock?.release();
    exitSoonEvenIfBusy(failure.exitCode);
    return failure.exitCode;
  }
  if (values.config) {
    // Hot reload: a changed file (a ConfigMap update) applies what can change live; SIGHUP re-reads it too.
    services.configReload = new ConfigReloader({ file: values.config, config, text: readOr(values.config),
      targets: { agent, limits: services.limits, budget: services.budget } }).start();
    process.on('SIGHUP', () => services.configReload?.check());
  }

  let statsTimer: NodeJS.Timeout | undefined;
  if (statsEvery) statsTimer = setInterval(() => process.stderr.write(formatSummary(agent.status())), statsEvery * 1000);

  // --duration counts from when the agent is running. The interval keeps the process alive until asked to stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  if (duration) setTimeout(requestStop, duration * 1000).unref();
  await stopRequested;
  clearInterval(keepAlive);
  services.configReload?.close();
  if (statsTimer) clearInterval(statsTimer);
  // Export gets its own shutdownTimeoutMs inside this; the rest is a margin for collectors and observe.
  const deadlineMs = config.export.otlp.shutdownTimeoutMs + 10_000;
  const clean = await withinDeadline(deadlineMs, async () => {
    await services.beforeAgentStop();
    await agent.stop();
    await services.stop();
  });
  if (!clean) process.stderr.write(`tapio run: shutdown did not finish within ${deadlineMs} ms; exiting anyway\n`);
  spoolLock?.release();
  process.stderr.write(formatSummary(agent.status()));
  exitSoonEvenIfBusy(clean ? 0 : 1);
  return clean ? 0 : 1;
}
