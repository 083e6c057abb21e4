// Test helper: a stream consumer that keeps every chunk per connection and direction, and rebuilds the stream
// (uncopied bytes as gaps) so a test can compare it with what the peers really sent.
import type { ConnectionInfo, StreamChunk, StreamConsumer } from '../../../src/collectors/requests/streams';

export interface RecordedConnection {
  info: ConnectionInfo;
  chunks: StreamChunk[];
  closed: boolean;
  evicted: boolean;
}

export interface Rebuilt {
  /** Copied bytes in order, with gaps left out. */
  copied: Buffer;
  /** Stream length covered (copied + gaps). */
  length: number;
  gapBytes: number;
  /** Byte ranges [start, end) of the stream that were copied, with their bytes. */
  pieces: { at: number; data: Buffer }[];
}

export class Recorder {
  readonly connections: RecordedConnection[] = [];

  factory = (info: ConnectionInfo): StreamConsumer => {
    const rec: RecordedConnection = { info, chunks: [], closed: false, evicted: false };
    this.connections.push(rec);
    return {
      push: (c) => { rec.chunks.push({ ...c, data: Buffer.from(c.data) }); },
      close: (_t, evicted) => { rec.closed = true; rec.evicted = evicted; },
    };
  };

  /** Connections whose local and peer ports are these. */
  find(localPort: number, peerPort: number): RecordedConnection | undefined {
    return this.connections.find((c) => c.info.tuple.localPort === localPort && c.info.tuple.peerPort === peerPort);
  }

  static rebuild(conn: RecordedConnection | undefined, direction: 'send' | 'recv'): Rebuilt {
    const pieces: { at: number; data: Buffer }[] = [];
    let at = 0;
    let gap = 0;
    for (const c of conn?.chunks ?? []) {
      if (c.direction !== direction) continue;
      if (c.data.length > 0) pieces.push({ at, data: Buffer.from(c.data) });
      gap += c.length - c.data.length;
      at += c.length;
    }
    return { copied: Buffer.concat(pieces.map((p) => p.data)), length: at, gapBytes: gap, pieces };
  }
}

/** Every copied piece equals the sent bytes at its offset (stream offsets relative to `origin`). */
export function piecesMatch(r: Rebuilt, sent: Buffer, origin = 0): string | undefined {
  for (const p of r.pieces) {
    const want = sent.subarray(p.at - origin, p.at - origin + p.data.length);
    if (!want.equals(p.data)) return `bytes at ${p.at} differ (${p.data.length} bytes)`;
  }
  return undefined;
}
