// Benchmark helper: a grpc-js echo server or a unary load client (32 calls in flight) without proto files.
// node grpc-peer.js server <port> | node grpc-peer.js client <port> <seconds>  (prints rps=<n> made=<calls made>)
import * as grpc from '@grpc/grpc-js';
const id = (b: Buffer) => b;
const service = { say: { path: '/bench.Echo/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
const [mode, port, seconds] = process.argv.slice(2);
if (mode === 'server') {
  const server = new grpc.Server();
  server.addService(service as unknown as grpc.ServiceDefinition, { say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), () => console.log('up'));
} else {
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const payload = Buffer.alloc(256, 7);
  const end = Date.now() + Number(seconds) * 1000;
  let done = 0;
  const say = (client as unknown as { say(p: Buffer, cb: () => void): void }).say.bind(client);
  const loop = (): Promise<void> => (Date.now() >= end ? Promise.resolve() : new Promise<void>((r) => say(payload, () => { done++; r(); })).then(loop));
  void Promise.all(Array.from({ length: 32 }, loop)).then(() => { console.log(`rps=${(done / Number(seconds)).toFixed(0)} made=${done}`); client.close(); });
}
