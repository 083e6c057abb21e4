// The cgroup path parser against a table of real-looking paths from every runtime and cgroup driver, plus a
// fuzz-style check that garbage never throws and never produces a container id that is not 64 hex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseCgroupPath } from '../../src/identity/cgroups/path-parser';

const id = randomBytes(32).toString('hex');
const outer = randomBytes(32).toString('hex');
const uid = randomUUID();
const uidSystemd = uid.replace(/-/g, '_');
const staticPodUid = randomBytes(16).toString('hex'); // static pods: a 32-hex hash, no dashes

interface Row {
  path: string;
  kind: 'container' | 'host' | 'unknown';
  containerId?: string;
  runtime?: string;
  podUid?: string;
  qos?: string;
  candidateId?: string;
}

const table: Row[] = [
  // host
  { path: '/', kind: 'host' },
  { path: '', kind: 'host' },
  // containerd CRI, cgroupfs driver (kubelet parents as measured here)
  { path: `/kubepods/besteffort/pod${uid}/${id}`, kind: 'container', containerId: id, runtime: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/kubepods/burstable/pod${uid}/${id}`, kind: 'container', containerId: id, runtime: 'unknown', podUid: uid, qos: 'burstable' },
  { path: `/kubepods/pod${uid}/${id}`, kind: 'container', containerId: id, runtime: 'unknown', podUid: uid, qos: 'guaranteed' },
  { path: `/kubepods/pod${staticPodUid}/${id}`, kind: 'container', containerId: id, runtime: 'unknown', podUid: staticPodUid, qos: 'guaranteed' },
  // containerd CRI, systemd driver
  { path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidSystemd}.slice/cri-containerd-${id}.scope`,
    kind: 'container', containerId: id, runtime: 'containerd', podUid: uid, qos: 'besteffort' },
  { path: `/kubepods.slice/kubepods-pod${uidSystemd}.slice/cri-containerd-${id}.scope`,
    kind: 'container', containerId: id, runtime: 'containerd', podUid: uid, qos: 'guaranteed' },
  // CRI-O
  { path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidSystemd}.slice/crio-${id}.scope`,
    kind: 'container', containerId: id, runtime: 'cri-o', podUid: uid, qos: 'burstable' },
  { path: `/kubepods/burstable/pod${uid}/crio-${id}`, kind: 'container', containerId: id, runtime: 'cri-o', podUid: uid, qos: 'burstable' },
  { path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidSystemd}.slice/crio-conmon-${id}.scope`, kind: 'host', runtime: 'cri-o' },
  // Docker
  { path: `/docker/${id}`, kind: 'container', containerId: id, runtime: 'docker' },
  { path: `/system.slice/docker-${id}.scope`, kind: 'container', containerId: id, runtime: 'docker' },
  { path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidSystemd}.slice/docker-${id}.scope`,
    kind: 'container', containerId: id, runtime: 'docker', podUid: uid, qos: 'besteffort' },
  // podman
  { path: `/libpod_parent/libpod-${id}`, kind: 'container', containerId: id, runtime: 'podman' },
  { path: `/machine.slice/libpod-${id}.scope`, kind: 'container', containerId: id, runtime: 'podman' },
  { path: `/machine.slice/libpod-${id}.scope/container`, kind: 'container', containerId: id, runtime: 'podman' },
  { path: `/libpod_parent/libpod-conmon-${id}`, kind: 'host', runtime: 'podman' },
  { path: `/machine.slice/libpod-conmon-${id}.scope`, kind: 'host', runtime: 'podman' },
  // kind: a pod's container nested below the node container, cgroupfs and systemd
  { path: `/docker/${outer}/kubepods/besteffort/pod${uid}/${id}`, kind: 'container', containerId: id, runtime: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${uidSystemd}.slice/cri-containerd-${id}.scope`,
    kind: 'container', containerId: id, runtime: 'containerd', podUid: uid, qos: 'besteffort' },
  { path: `/docker/${outer}/kubepods/besteffort/pod${uid}`, kind: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/docker/${outer}/system.slice/containerd.service`, kind: 'container', containerId: outer, runtime: 'docker' },
  // k3s (containerd, either driver) and processes in a container's own sub-cgroups
  { path: `/kubepods/besteffort/pod${uid}/${id}/init`, kind: 'container', containerId: id, runtime: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/system.slice/docker-${id}.scope/system.slice/nginx.service`, kind: 'container', containerId: id, runtime: 'docker' },
  // the pod cgroup itself, QoS parents
  { path: `/kubepods/besteffort/pod${uid}`, kind: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: '/kubepods/besteffort', kind: 'unknown' },
  { path: '/kubepods.slice', kind: 'unknown' },
  // plain containerd (ctr): free-form names are only candidates a runtime must confirm
  { path: '/default/t1', kind: 'unknown', candidateId: 't1' },
  { path: `/k8s.io/${id}`, kind: 'unknown', candidateId: id },
  // host services and unknown shapes
  { path: '/system.slice/containerd.service', kind: 'unknown' },
  { path: '/user.slice/user-1000.slice/session-2.scope', kind: 'unknown' },
  { path: '/init.scope', kind: 'unknown' },
  { path: `/kubepods/besteffort/pod${uid}/${id.slice(0, 63)}`, kind: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/kubepods/besteffort/pod${uid}/${id.toUpperCase()}`, kind: 'unknown', podUid: uid, qos: 'besteffort' },
  { path: `/kubepods/besteffort/podnot-a-uid/${id}`, kind: 'container', containerId: id, runtime: 'unknown' },
  { path: `/somewhere/${id}/deeper/still`, kind: 'unknown' },
];

test('every known cgroup path shape parses to its container, runtime, pod and QoS', () => {
  for (const row of table) {
    const got = parseCgroupPath(row.path);
    const want: Record<string, unknown> = { kind: row.kind };
    for (const k of ['containerId', 'runtime', 'podUid', 'qos', 'candidateId'] as const) {
      if (row[k] !== undefined) want[k] = row[k];
    }
    const picked: Record<string, unknown> = { kind: got.kind };
    for (const k of ['containerId', 'runtime', 'podUid', 'qos', 'candidateId'] as const) {
      if (got[k] !== undefined) picked[k] = got[k];
    }
    assert.deepEqual(picked, want, `path ${row.path}`);
  }
});

test('systemd pod slices give the pod UID with dashes, as the API server knows it', () => {
  const got = parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidSystemd}.slice/cri-containerd-${id}.scope`);
  assert.equal(got.podUid, uid);
  assert.ok(!got.podUid?.includes('_'));
});

test('monitor cgroups (conmon) are marked and never carry a container id', () => {
  for (const p of [`/libpod_parent/libpod-conmon-${id}`, `/machine.slice/crio-conmon-${id}.scope`]) {
    const got = parseCgroupPath(p);
    assert.equal(got.monitor, true, p);
    assert.equal(got.containerId, undefined, p);
  }
});

function randomPath(rnd: () => number): string {
  const pieces = ['/', 'kubepods', 'kubepods.slice', 'pod', `pod${uid}`, '-pod', '.slice', '.scope', 'docker', 'docker-',
    'cri-containerd-', 'crio-', 'crio-conmon-', 'libpod-', 'libpod_parent', id, id.slice(0, 40), 'besteffort', '_', '-',
    '..', '\u0000', '\n', 'é', ':', ' ', 'ABCDEF', uidSystemd, randomBytes(8).toString('hex')];
  let s = '';
  const n = Math.floor(rnd() * 20);
  for (let i = 0; i < n; i++) {
    s += rnd() < 0.15 ? String.fromCharCode(Math.floor(rnd() * 0x2ff)) : pieces[Math.floor(rnd() * pieces.length)];
  }
  return s;
}

test('fuzz: garbage paths never throw and never yield a container id that is not 64 hex', () => {
  // A seeded generator keeps failures reproducible; 20k paths bound the time.
  let seed = 0x2545f491;
  const rnd = (): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const inputs: unknown[] = ['x'.repeat(100_000), '/'.repeat(5000), null, undefined, 42, {}];
  for (let i = 0; i < 20_000; i++) inputs.push(randomPath(rnd));
  for (const p of inputs) {
    const got = parseCgroupPath(p as string);
    assert.ok(['container', 'host', 'unknown'].includes(got.kind));
    if (got.containerId !== undefined) assert.match(got.containerId, /^[0-9a-f]{64}$/, `from ${JSON.stringify(p)}`);
    if (got.kind === 'container') assert.ok(got.containerId);
    if (got.podUid !== undefined) assert.match(got.podUid, /^[0-9a-f-]{32,36}$/);
  }
});
