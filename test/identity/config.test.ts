// The identity section of the config: defaults make an empty config work; bad values get errors naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityConfigSchema } from '../../src/config/identity';

test('identity config: defaults, custom runtime sockets, and clear errors for bad values', () => {
  const d = identityConfigSchema.parse(undefined);
  assert.equal(d.enabled, true);
  assert.equal(d.runtimes.endpoints, undefined, 'no list means the default sockets');
  assert.ok(d.cgroups.cacheSize > 0);
  const custom = identityConfigSchema.parse({ runtimes: { endpoints: [{ kind: 'cri', socket: '/run/k3s/containerd/containerd.sock' }] } });
  assert.deepEqual(custom.runtimes.endpoints, [{ kind: 'cri', socket: '/run/k3s/containerd/containerd.sock' }]);
  const bad = identityConfigSchema.safeParse({ runtimes: { endpoints: [{ kind: 'rkt', socket: 'relative.sock' }] } });
  assert.equal(bad.success, false);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('runtimes.endpoints.0.kind'), paths.join(','));
  assert.ok(paths.includes('runtimes.endpoints.0.socket'), paths.join(','));
  assert.equal(identityConfigSchema.safeParse({ cgroups: { cacheSize: -1 } }).success, false);
  assert.equal(identityConfigSchema.safeParse({ typo: true }).success, false);
});
