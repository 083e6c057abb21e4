// `tapio status`: the state of a running agent, for a person. Fetches /status from the agent's observe address
// (loopback by default) and prints it; --json prints the document itself.
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load';
import { formatStatus } from '../observe/format';
import type { ObserveStatus } from '../observe/snapshot';

const HELP = `Usage: tapio status [options]

  --url <url>       the agent's observe address (default: from --config, else http://127.0.0.1:9464);
                    unix:/path/to/socket for a unix socket
  --config <file>   read observe.address from this config file
  --json            print the /status document as JSON
  --timeout <s>     give up after this many seconds (default 5)
`;

/** GET `path` from an http:// URL or a unix:/socket address. */
export function fetchText(base: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let options: http.RequestOptions;
    if (base.startsWith('unix:')) {
      options = { socketPath: base.slice('unix:'.length), path };
    } else {
      const u = new URL(path, base.endsWith('/') ? base : `${base}/`);
      if (u.protocol !== 'http:') { reject(new Error(`only http:// and unix: addresses are supported, not ${u.protocol}`)); return; }
      options = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || 80, path: u.pathname };
    }
    const req = http.get({ ...options, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function defaultUrl(configPath?: string): string {
  const address = loadConfig(configPath).observe.address;
  return address.startsWith('/') ? `unix:${address}` : `http://${address}`;
}

export async function runStatus(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: {
      url: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    } }));
  } catch (e) {
    process.stderr.write(`tapio status: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const timeoutS = values.timeout !== undefined ? Number(values.timeout) : 5;
  if (!(timeoutS > 0)) {
    process.stderr.write('tapio status: --timeout must be a positive number of seconds\n');
    return 2;
  }
  let url: string;
  try {
    url = values.url ?? defaultUrl(values.config);
  } catch (e) {
    process.stderr.write(`tapio status: ${(e as Error).message}\n`);
    return 2;
  }
  let res;
  try {
    res = await fetchText(url, '/status', timeoutS * 1000);
  } catch (e) {
    process.stderr.write(`tapio status: cannot reach the agent at ${url}: ${(e as Error).message}\n` +
      'Is `tapio run` running on this node, with observe.enabled? Pass --url if it listens elsewhere.\n');
    return 1;
  }
  if (res.status !== 200) {
    process.stderr.write(`tapio status: ${url}/status answered HTTP ${res.status}: ${res.body.slice(0, 200)}\n`);
    return 1;
  }
  let doc: ObserveStatus;
  try {
    doc = JSON.parse(res.body) as ObserveStatus;
    if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.collectors) || !doc.ready) throw new Error('not a status document');
  } catch (e) {
    process.stderr.write(`tapio status: ${url}/status did not answer with a Tapio status document: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(values.json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatus(doc));
  return doc.ready.ready ? 0 : 3;
}
