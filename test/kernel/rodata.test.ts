// Load-time constants: a collector spec's `rodata` sets `const volatile` globals before load, so the programs read
// a constant instead of looking a settings map up per event. Shown with the process program's argv_max_bytes: the
// configured bound is what the kernel copies. A wrong name or size is refused with a clear error, nothing leaks.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { needsRoot } from '../helpers/root';
import { loadCollector } from '../../src/kernel/loader';
import { ProcessCollector, processCollectorSpec } from '../../src/collectors/process';
import { cgroupCollectorSpec } from '../../src/collectors/cgroup';
import { runCollector, type Running } from '../collectors/collect';

const SPEC = processCollectorSpec({ ringBufferBytes: 1 << 20 });
let run: Running | undefined;
after(async () => { await run?.stop(); });

test('a rodata value of the wrong size, an unknown name, or an object without .rodata is refused', needsRoot, async () => {
  await assert.rejects(loadCollector({ ...SPEC, rodata: { argv_max_bytes: Buffer.alloc(2) } }),
    /setRodata argv_max_bytes: the variable has 4 bytes, the value 2/);
  await assert.rejects(loadCollector({ ...SPEC, rodata: { no_such_setting: Buffer.alloc(4) } }),
    /no const volatile variable named 'no_such_setting'/);
  await assert.rejects(loadCollector({ ...cgroupCollectorSpec(), rodata: { argv_max_bytes: Buffer.alloc(4) } }), /has no \.rodata/);
});

test('collectors.process.argvMaxBytes reaches the kernel as .rodata: only that many argv bytes are copied', needsRoot, async () => {
  run = await runCollector(new ProcessCollector(), { collectors: { process: { argvMaxBytes: 16 } } });
  const long = 'x'.repeat(40);
  const child = spawnSync('/bin/sh', ['-c', 'exit 0', long], { stdio: 'ignore' });
  const exec = () => run!.events.find((e) => e.name === 'process.exec' && e.attributes['process.pid'] === child.pid);
  assert.ok(await run.waitFor(() => exec() !== undefined, 5000), 'the exec event arrives');
  const args = exec()!.attributes['process.command_args'] as string[];
  // "/bin/sh\0-c\0exit 0\0" is 18 bytes: the 16-byte prefix holds /bin/sh, -c and a cut "exit 0".
  assert.deepEqual(args, ['/bin/sh', '-c', 'exit ']);
  assert.equal(exec()!.attributes['tapio.argv.truncated'], true);
});
