// Real TLS peers for the TLS capture tests, run as child processes (the agent's own process is never captured):
//   serve <certdir>                      Node https, http2 secure and grpc-js-over-TLS servers; prints their ports
//   https <port> <n> <authorization>     Node https client, n GETs on one keep-alive connection
//   h2 <port> <n> <authorization>        Node http2 client, n multiplexed GETs on one session
//   grpc <port> <certdir> <n>            grpc-js client over TLS, n unary calls (one NOT_FOUND)
// Each client prints "done" once every response arrived.
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';

const id = (b: Buffer) => b;
const def = (p: string) => ({ path: p, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
export const TLS_SERVICE = { say: def('/tapio.test.Echo/Say'), fail: def('/tapio.test.Echo/Fail') };

function handler(req: { url?: string; resume(): void; on(e: 'end', f: () => void): void }, res: { writeHead(s: number, h: Record<string, string>): void; end(b: string): void }): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, { 'set-cookie': 'session=SRVsecretCookie42; HttpOnly', 'content-type': 'text/plain' });
    res.end('hello');
  });
}

async function serve(dir: string): Promise<void> {
  const key = fs.readFileSync(path.join(dir, 'key.pem'));
  const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
  const h1 = https.createServer({ key, cert }, handler);
  const h2 = http2.createSecureServer({ key, cert }, handler);
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const g = new grpc.Server();
  g.addService(TLS_SERVICE, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
    fail: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
  });
  const gp = await new Promise<number>((resolve, reject) => g.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createSsl(null, [{ private_key: key, cert_chain: cert }]), (e, p) => (e ? reject(e) : resolve(p))));
  const port = (s: https.Server | http2.Http2SecureServer) => (s.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ h1: port(h1), h2: port(h2), grpc: gp })}\n`);
}

async function httpsClient(port: number, n: number, auth: string): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: `/node/${i}?token=CLIsecretQueryTok42`, agent, headers: { authorization: auth } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  }
  agent.destroy();
}

async function h2Client(port: number, n: number, auth: string): Promise<void> {
  const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => {
    const r = s.request({ ':path': i === 0 ? '/missing/h2n' : `/h2n/${i}`, authorization: auth });
    r.on('response', () => undefined);
    r.resume();
    r.on('end', resolve);
    r.on('error', reject);
    r.end();
  })));
  await new Promise<void>((r) => s.close(r));
}

async function grpcClient(port: number, dir: string, n: number): Promise<void> {
  const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
  const Ctor = grpc.makeGenericClientConstructor(TLS_SERVICE, 'Echo');
  const c = new Ctor(`localhost:${port}`, grpc.credentials.createSsl(cert)) as grpc.Client & Record<string, (...a: unknown[]) => void>;
  for (let i = 0; i < n; i++) {
    const method = i === n - 1 ? 'fail' : 'say';
    await new Promise<void>((resolve) => c[method](Buffer.from(`ping ${i}`), new grpc.Metadata(), () => resolve()));
  }
  c.close();
}

async function main(): Promise<void> {
  const [cmd, a, b, c] = process.argv.slice(2);
  if (cmd === 'serve') return serve(a);
  if (cmd === 'https') await httpsClient(Number(a), Number(b), c);
  else if (cmd === 'h2') await h2Client(Number(a), Number(b), c);
  else if (cmd === 'grpc') await grpcClient(Number(a), b, Number(c));
  else throw new Error(`unknown command ${cmd}`);
  process.stdout.write('done\n');
}

if (require.main === module) main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
