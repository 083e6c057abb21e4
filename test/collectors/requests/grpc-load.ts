// Test peer (a child process, so the load has its own process): a grpc-js echo server, or a client that makes unary
// calls over several channels, each its own HTTP/2 connection, and counts what it made (its own ground truth).
//   node grpc-load.js server                               prints the port
//   node grpc-load.js client <port> <channels> <calls> <in flight per channel>
//     prints "progress" once a quarter of the calls are done, then "made <calls started> ok <calls answered OK>"
import * as grpc from '@grpc/grpc-js';

const id = (b: Buffer) => b;
const SERVICE = { say: { path: '/tapio.test.Count/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
type Say = (p: Buffer, cb: (err: grpc.ServiceError | null) => void) => void;

function server(): void {
  const s = new grpc.Server();
  s.addService(SERVICE as unknown as grpc.ServiceDefinition, { say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(port);
  });
}

async function client(port: string, channels: number, calls: number, inFlight: number): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Count');
  // A local subchannel pool per client: each channel gets its own connection (the shared pool would reuse one).
  const clients = Array.from({ length: channels }, () => new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const payload = Buffer.alloc(200, 7);
  let started = 0;
  let ok = 0;
  let done = 0;
  const one = (c: InstanceType<typeof Client>) => new Promise<void>((resolve) => {
    started++;
    (c as unknown as { say: Say }).say(payload, (err) => {
      if (!err) ok++;
      if (++done === Math.floor(calls / 4)) console.log('progress');
      resolve();
    });
  });
  const lane = async (c: InstanceType<typeof Client>) => { while (started < calls) await one(c); };
  await Promise.all(clients.flatMap((c) => Array.from({ length: inFlight }, () => lane(c))));
  console.log(`made ${started} ok ${ok}`);
  for (const c of clients) c.close();
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') server();
else void client(args[0]!, Number(args[1]), Number(args[2]), Number(args[3]));
