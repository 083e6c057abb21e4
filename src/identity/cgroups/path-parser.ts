// A pure parser: what a cgroup path says by itself about the container, runtime, pod and QoS class that own it.
// It never asks a runtime and never throws. Shapes it knows (cgroupfs and systemd drivers):
//   containerd CRI  /kubepods/<qos>/pod<uid>/<id>, /kubepods/pod<uid>/<id>, .../cri-containerd-<id>.scope
//   CRI-O           .../crio-<id>.scope, /kubepods/.../crio-<id>   (crio-conmon-<id> is the monitor, not the container)
//   Docker          /docker/<id>, /system.slice/docker-<id>.scope
//   podman          /libpod_parent/libpod-<id>, /machine.slice/libpod-<id>.scope (libpod-conmon-<id> is the monitor)
//   k3s, kind       the same shapes below a prefix: /kubelet.slice/kubelet-kubepods.slice/..., /docker/<node>/kubepods/...
//   ctr             /<namespace>/<name>: names are free-form, so only a `candidateId` a runtime must confirm
// Anything else is host or unknown: a path is never attributed to a container on a guess.
import type { CgroupIdentity, RuntimeName } from '../types';

/** The parse result: the shared CgroupIdentity plus what only a runtime can confirm. */
export interface ParsedCgroup extends CgroupIdentity {
  /** Last path segment when the path may be `/<namespace>/<id>` from plain containerd; not a container id until a
   *  runtime knows a container by that id. Never set when `containerId` is. */
  candidateId?: string;
  /** True for a runtime's monitor process cgroup (conmon): belongs to the runtime, not to the container. */
  monitor?: boolean;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;
// Pod UIDs are UUIDs; static pods get a 32-hex hash instead.
const POD_UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
// Free-form names a containerd client may use (ctr run ... t1); bounded so garbage never becomes a candidate.
const CANDIDATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const QOS_CLASSES = ['besteffort', 'burstable', 'guaranteed'] as const;
type Qos = (typeof QOS_CLASSES)[number];

// `<prefix><64 hex>[.scope]` per runtime; order matters: conmon prefixes before their shorter siblings.
const SEGMENT_SHAPES: Array<{ prefix: string; runtime: RuntimeName; monitor?: boolean }> = [
  { prefix: 'cri-containerd-', runtime: 'containerd' },
  { prefix: 'crio-conmon-', runtime: 'cri-o', monitor: true },
  { prefix: 'crio-', runtime: 'cri-o' },
  { prefix: 'docker-', runtime: 'docker' },
  { prefix: 'libpod-conmon-', runtime: 'podman', monitor: true },
  { prefix: 'libpod-', runtime: 'podman' },
];

interface SegmentMatch {
  id: string;
  runtime: RuntimeName;
  monitor: boolean;
}

/** A container segment: `<prefix><id>`, `<prefix><id>.scope`, or a bare 64-hex id (runtime decided by context). */
function matchContainerSegment(segment: string): SegmentMatch | undefined {
  const name = segment.endsWith('.scope') ? segment.slice(0, -'.scope'.length) : segment;
  for (const shape of SEGMENT_SHAPES) {
    if (name.startsWith(shape.prefix)) {
      const id = name.slice(shape.prefix.length);
      return CONTAINER_ID.test(id) ? { id, runtime: shape.runtime, monitor: shape.monitor ?? false } : undefined;
    }
  }
  if (name === segment && CONTAINER_ID.test(name)) return { id: name, runtime: 'unknown', monitor: false };
  return undefined;
}

/** `pod<uid>` (cgroupfs) or `...-pod<uid_with_underscores>.slice` (systemd); returns the uid with dashes. */
function matchPodSegment(segment: string): string | undefined {
  let rest: string | undefined;
  if (segment.endsWith('.slice')) {
    const at = segment.lastIndexOf('-pod');
    if (at >= 0) rest = segment.slice(at + '-pod'.length, -'.slice'.length).replace(/_/g, '-');
  } else if (segment.startsWith('pod')) {
    rest = segment.slice('pod'.length);
  }
  return rest !== undefined && POD_UID.test(rest) ? rest : undefined;
}

/** QoS class named by a segment: `besteffort`, `kubepods-burstable.slice`, `kubelet-kubepods-besteffort.slice`. */
function matchQosSegment(segment: string): Qos | undefined {
  const name = segment.endsWith('.slice') ? segment.slice(0, -'.slice'.length) : segment;
  for (const q of QOS_CLASSES) {
    if (name === q || name.endsWith(`kubepods-${q}`)) return q;
  }
  return undefined;
}

function isKubepodsSegment(segment: string): boolean {
  return segment === 'kubepods' || segment === 'kubepods.slice' || segment.endsWith('-kubepods.slice');
}

/** Parse one cgroup path (as in /proc/<pid>/cgroup or below a cgroup mount). Never throws. */
export function parseCgroupPath(path: string): ParsedCgroup {
  if (typeof path !== 'string' || path.length > 4096) return { kind: 'unknown' };
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length === 0) return { kind: 'host' };

  let container: SegmentMatch | undefined;
  let containerIndex = -1;
  let podUid: string | undefined;
  let podIndex = -1;
  let qos: Qos | undefined;
  let kubepodsIndex = -1;
  let dockerParentIndex = -1;
  let libpodParentIndex = -1;

  // The deepest container segment wins: kind nests a pod's container below its node's /docker/<id>.
  segments.forEach((segment, i) => {
    if (isKubepodsSegment(segment)) kubepodsIndex = i;
    if (segment === 'docker') dockerParentIndex = i;
    if (segment === 'libpod_parent') libpodParentIndex = i;
    const q = matchQosSegment(segment);
    if (q && kubepodsIndex >= 0) qos = q;
    const uid = kubepodsIndex >= 0 ? matchPodSegment(segment) : undefined;
    if (uid) {
      podUid = uid;
      podIndex = i;
    }
    const c = matchContainerSegment(segment);
    // A bare 64-hex name is a container only where a runtime puts one: below kubepods, /docker or /libpod_parent.
    const bareAllowed = kubepodsIndex >= 0 || i - 1 === dockerParentIndex || i - 1 === libpodParentIndex;
    if (c && (c.runtime !== 'unknown' || bareAllowed)) {
      container = c;
      containerIndex = i;
    }
  });

  // A pod uid seen above an earlier (outer) container belongs to that nesting, not to the deeper container.
  if (podUid && containerIndex >= 0 && podIndex > containerIndex) {
    // The pod cgroup itself or a sibling below a container: keep the pod, drop the container (it is the node's).
    container = undefined;
  }
  if (podUid && !qos && podIndex === kubepodsIndex + 1) qos = 'guaranteed';

  if (container) {
    if (container.monitor) return { kind: 'host', runtime: container.runtime, monitor: true };
    let runtime = container.runtime;
    if (runtime === 'unknown') {
      // A bare id: its parent says who made it (/docker/<id>, /libpod_parent/<id>); under kubepods it stays unknown
      // (containerd, CRI-O with cgroupfs, or cri-dockerd) until a runtime answers.
      if (dockerParentIndex === containerIndex - 1) runtime = 'docker';
      else if (libpodParentIndex === containerIndex - 1) runtime = 'podman';
    }
    const out: ParsedCgroup = { kind: 'container', containerId: container.id, runtime };
    if (podUid && podIndex < containerIndex) out.podUid = podUid;
    if (out.podUid && qos) out.qos = qos;
    return out;
  }
  if (podUid) return qos ? { kind: 'unknown', podUid, qos } : { kind: 'unknown', podUid };

  // `/<namespace>/<name>` as made by plain containerd clients: a candidate only, never a container by itself.
  if (segments.length === 2 && kubepodsIndex < 0 && dockerParentIndex < 0 && CANDIDATE_NAME.test(segments[0]!) &&
      CANDIDATE_NAME.test(segments[1]!) && !segments[0]!.endsWith('.slice') && !segments[1]!.endsWith('.scope') &&
      !segments[1]!.endsWith('.service')) {
    return { kind: 'unknown', candidateId: segments[1]! };
  }
  return { kind: 'unknown' };
}
