// Test peer (a child process, so the load has its own process): an HTTP/1.1 server, plain or TLS, answering every
// request with a body of a given size, or a keep-alive client that makes an exact number of requests over a number
// of sockets and counts what it made (its own ground truth; wrk cannot say how many requests it left in flight).
//   node http-load.js server <certdir or -> <response bytes>       prints the port
//   node http-load.js client <port> <https 0|1> <sockets> <requests>
//     prints "made <requests started> ok <answered 200 with the whole body>"
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';

function server(certDir: string, bytes: number): void {
  const body = Buffer.alloc(bytes, 'x');
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) }); res.end(body); });
  };
  const s = certDir === '-' ? http.createServer(handler)
    : https.createServer({ key: fs.readFileSync(path.join(certDir, 'key.pem')), cert: fs.readFileSync(path.join(certDir, 'cert.pem')) }, handler);
  s.keepAliveTimeout = 60_000;
  s.listen(0, '127.0.0.1', () => console.log((s.address() as { port: number }).port));
}

async function client(port: number, tls: boolean, sockets: number, requests: number): Promise<void> {
  const mod = tls ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: sockets, rejectUnauthorized: false } as https.AgentOptions);
  let started = 0;
  let ok = 0;
  const one = () => new Promise<void>((resolve) => {
    const i = started++;
    mod.get({ host: '127.0.0.1', port, path: `/load/${i}`, agent }, (r) => {
      let n = 0;
      r.on('data', (d: Buffer) => { n += d.length; });
      r.on('end', () => { if (r.statusCode === 200 && n === Number(r.headers['content-length'])) ok++; resolve(); });
    }).on('error', () => resolve());
  });
  const lane = async () => { while (started < requests) await one(); };
  await Promise.all(Array.from({ length: sockets }, lane));
  console.log(`made ${started} ok ${ok}`);
  agent.destroy();
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') server(args[0]!, Number(args[1]));
else void client(Number(args[0]), args[1] === '1', Number(args[2]), Number(args[3]));
