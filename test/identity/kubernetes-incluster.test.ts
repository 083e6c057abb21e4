// In-cluster mode against a FAKE API server over real TLS (no real API server can run here): credentials come from
// a service account directory (token, ca.crt) and KUBERNETES_SERVICE_HOST/PORT, as in a pod, and every request
// (list, watch, owner GET) carries the token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kubernetesConfigSchema } from '../../src/config/kubernetes';
import { createKubernetesMetadata, type KubernetesMetadataSource } from '../../src/identity/kubernetes';
import { FakeApiServer, makeNamespace, makeNode, makeOwned, makePod } from '../helpers/fake-apiserver';
import { waitFor } from './kubernetes-helpers';

const hasOpenssl = (() => { try { execFileSync('openssl', ['version']); return true; } catch { return false; } })();

test('in-cluster: service account token and CA, over TLS', { skip: hasOpenssl ? false : 'needs the openssl CLI to make a certificate' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-k8s-sa-'));
  let fake: FakeApiServer | undefined;
  let source: KubernetesMetadataSource | undefined;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
    { stdio: 'ignore' });
    const saDir = path.join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    fs.mkdirSync(saDir, { recursive: true });
    fs.copyFileSync(path.join(dir, 'cert.pem'), path.join(saDir, 'ca.crt'));
    fs.writeFileSync(path.join(saDir, 'token'), 'token-one');
    fs.writeFileSync(path.join(saDir, 'namespace'), 'tapio');

    fake = new FakeApiServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) });
    fake.requireToken = 'token-one';
    fake.upsert(makeNode('n1'));
    fake.upsert(makeNamespace('kube-system', 'cluster-uid-1'));
    fake.upsert(makePod({ name: 'p', namespace: 'default', node: 'n1', uid: 'uid-p' }));
    fake.upsert(makeOwned('ReplicaSet', 'web-1', 'default', { kind: 'Deployment', name: 'web' }));
    await fake.start();

    source = createKubernetesMetadata({
      config: kubernetesConfigSchema.parse({ backoff: { initialMs: 20, maxMs: 200 } }), nodeName: 'n1',
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(fake.listenPort) }, serviceAccountPrefix: dir,
    });
    assert.equal(source.status().mode, 'in-cluster');
    assert.equal(await source.whenSynced(5000), true);
    assert.equal(source.podByUid('uid-p')?.name, 'p');
    assert.equal(source.resourceAttributes()['k8s.cluster.uid'], 'cluster-uid-1');
    assert.equal(source.status().lastError, undefined);

    fake.upsert(makePod({ name: 'web-1-x', namespace: 'default', node: 'n1', uid: 'uid-w', owner: { kind: 'ReplicaSet', name: 'web-1' } }));
    await waitFor('owner GET with the token', () => source!.podByUid('uid-w')?.attributes['k8s.deployment.name'] === 'web', 5000);
    assert.equal(fake.unauthorized, 0, 'every request carried the service account token');
    assert.ok(fake.requests.some((r) => r.verb === 'watch') && fake.requests.some((r) => r.verb === 'get'));
  } finally {
    await source?.stop();
    await fake?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('in-cluster without a token file says what to mount', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-k8s-sa-'));
  try {
    const source = createKubernetesMetadata({ config: kubernetesConfigSchema.parse({}), nodeName: 'n1',
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountPrefix: dir });
    assert.equal(source.status().mode, 'host');
    assert.match(source.status().source, /token does not exist: mount a service account token/);
    await source.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
