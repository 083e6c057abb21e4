// Benchmark helper: what consumes each captured connection in the benchmark. Until the protocol sessions are wired
// in, it counts chunks, bytes and gaps (the parsers' input), which is the capture's whole cost on the agent side.
import type { ConnectionInfo, StreamChunk, StreamConsumer } from '../../src/collectors/requests/streams';

const totals = { connections: 0, chunks: 0, bytes: 0, gapBytes: 0, requests: 0 };

export function benchConsumer(_info: ConnectionInfo): StreamConsumer {
  totals.connections++;
  return {
    push(c: StreamChunk) {
      totals.chunks++;
      totals.bytes += c.data.length;
      totals.gapBytes += c.length - c.data.length;
    },
    close() {},
  };
}

export function consumerTotals(): typeof totals {
  return { ...totals };
}
