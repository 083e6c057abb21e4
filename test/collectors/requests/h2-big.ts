// Node http2 answering 150 KiB bodies (single writev calls far larger than a small bound), then more requests on
// the same connection whose header blocks use the HPACK dynamic table, and large and small answers in flight together
// (response HEADERS behind DATA in one write). Used by requests-h2-large and requests-h2-walk.
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TapioEvent } from '../../../src/core/event';
import { requestsOn, until, type RequestsAgent } from './agent';

export const BIG = 150 * 1024;

export interface BigAnswers { made: string[]; server: TapioEvent[]; client: TapioEvent[]; lost: number }

export async function bigAnswers(ra: RequestsAgent): Promise<BigAnswers> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const p = String(headers[':path']);
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': p.startsWith('/missing') ? 404 : 200, 'content-type': 'text/plain', 'x-path-echo': p });
      stream.end(p.startsWith('/big') ? Buffer.alloc(BIG, 0x61) : `small ${p}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const lostBefore = ra.lost();
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const get = (p: string) => new Promise<number>((resolve, reject) => {
      let n = 0;
      const s = client.request({ ':path': p, 'x-request-tag': `tag-${p}` });
      s.on('data', (d: Buffer) => { n += d.length; }).on('error', reject).on('end', () => resolve(n));
      s.end();
    });
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      if (await get(`/big/${i}`) !== BIG) throw new Error('short body');
      made.push(`GET /big/${i} 200`);
      for (const p of [`/after/${i}/a`, `/missing/${i}`, `/after/${i}/b?q=${i}`]) { await get(p); made.push(`GET ${p} ${p.startsWith('/missing') ? 404 : 200}`); }
    }
    for (let round = 0; round < 3; round++) {
      const paths = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? `/big/r${round}/${i}` : `/mixed/r${round}/${i}`));
      await Promise.all(paths.map((p) => get(p)));
      for (const p of paths) made.push(`GET ${p} 200`);
    }
    client.close();
    await until(`${made.length} requests on both ends`, () => {
      const r = requestsOn(ra.sink, port);
      return r.server.length + r.client.length + (ra.lost() - lostBefore) >= 2 * made.length;
    });
    await new Promise((r) => setTimeout(r, 500)); // anything reported twice, or counted late, by now
    const r = requestsOn(ra.sink, port);
    return { made, server: r.server, client: r.client, lost: ra.lost() - lostBefore };
  } finally {
    server.close();
  }
}

export const triple = (e: TapioEvent) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;
