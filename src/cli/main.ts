// `tapio <command>`: run the agent, probe the kernel, show status. Each command lives in its own file.
import { runProbe } from './probe';
import { runAgentCommand } from './run';
import { runStatus } from './status';

const USAGE = `Usage: tapio <command> [options]

Commands:
  run       run the agent on this node (console output by default; see \`tapio run --help\`)
  probe     report what this kernel supports, found by trying (\`--json\` for machine-readable output)
  status    show a running agent's state: programs, hooks, drops, exporters (\`--url\` of its /status)
  help      this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runAgentCommand(rest);
    case 'probe':
      return runProbe(rest);
    case 'status':
      return runStatus(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`tapio: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
