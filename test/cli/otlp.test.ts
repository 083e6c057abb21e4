// `tapio run` exporting to a collector, end to end (needs root): a real exec seen by the kernel arrives at a real
// OTLP receiver (gRPC, decoded with the official protobuf definitions) as a log record with its attributes and the
// agent's resource, configured only by the standard OTEL_* environment variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { OtlpReceiver } from '../export/receiver';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

test('tapio run sends real events to an OTLP collector configured by OTEL_* variables', needsRoot, async () => {
  const receiver = new OtlpReceiver({ protocol: 'grpc' });
  await receiver.start();
  const marker = `tapio-otlp-e2e-${process.pid}`;
  const child = spawn(process.execPath, [TAPIO, 'run', '--output', 'none', '--duration', '12', '--config', '/dev/null'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_INSECURE: 'true',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=e2e',
      NODE_NAME: 'e2e-node',
    },
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  try {
    // Keep making the marker exec until it shows up at the collector (the agent needs a moment to attach).
    let found: ReturnType<OtlpReceiver['logRecords']>[number] | undefined;
    for (let i = 0; i < 100 && !found; i++) {
      execFileSync('/bin/true', [marker]);
      await new Promise((r) => setTimeout(r, 100));
      found = receiver.logRecords().find((l) => l.eventName === 'process.exec' &&
        Array.isArray(l.attributes['process.command_args']) && (l.attributes['process.command_args'] as string[]).includes(marker));
    }
    assert.ok(found, `the marker exec reached the collector; agent said:\n${stderr}`);
    assert.equal(found.attributes['event.name'] ?? found.eventName, 'process.exec');
    assert.equal(found.attributes['process.executable.path'], '/bin/true');
    assert.equal(found.attributes['k8s.node.name'], 'e2e-node');
    assert.equal(found.resource['service.name'], 'tapio');
    assert.equal(found.resource['k8s.node.name'], 'e2e-node');
    assert.equal(found.resource['deployment.environment.name'], 'e2e');
    assert.ok(BigInt(found.timeUnixNano) > 0n);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /drops \(stage kind reason: count\):\n {2}none/, 'nothing was dropped on the way');
  } finally {
    child.kill('SIGKILL');
    await receiver.stop();
  }
});
