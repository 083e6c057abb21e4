// Turning runtime answers (Docker/podman JSON, CRI messages) into ContainerInfo. Pure functions that never throw:
// an answer that lacks what the API promises gives undefined, and the caller counts it as malformed and skips it.
import type { ContainerInfo, RuntimeName } from '../types';
import type { CriMessage } from './cri';

const CONTAINER_ID = /^[0-9a-f]{64}$/;
// CRI ids are opaque strings; containerd and CRI-O use 64 hex, but we only insist on something sane.
const OPAQUE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A string->string map, dropping non-string values; undefined input gives {}. */
function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** `sha256:<hex>` image ids only; references with a digest (`repo@sha256:...`) give their digest. */
function imageId(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    const at = c.lastIndexOf('@');
    const digest = at >= 0 ? c.slice(at + 1) : c;
    if (/^sha256:[0-9a-f]{64}$/.test(digest)) return digest;
  }
  return undefined;
}

// Kubernetes identity on containers made by kubelet (labels set by kubelet; annotations set by containerd CRI).
function kubernetesFields(labels: Record<string, string>, annotations: Record<string, string> = {}):
    Pick<ContainerInfo, 'podName' | 'podNamespace' | 'podUid' | 'kubernetesContainerName'> {
  const pick = (...vals: Array<string | undefined>): string | undefined => vals.find((v) => v !== undefined && v !== '');
  const out: Pick<ContainerInfo, 'podName' | 'podNamespace' | 'podUid' | 'kubernetesContainerName'> = {};
  const podName = pick(labels['io.kubernetes.pod.name'], annotations['io.kubernetes.cri.sandbox-name']);
  const podNamespace = pick(labels['io.kubernetes.pod.namespace'], annotations['io.kubernetes.cri.sandbox-namespace']);
  const podUid = pick(labels['io.kubernetes.pod.uid'], annotations['io.kubernetes.cri.sandbox-uid']);
  const containerName = pick(labels['io.kubernetes.container.name'], annotations['io.kubernetes.cri.container-name']);
  if (podName) out.podName = podName;
  if (podNamespace) out.podNamespace = podNamespace;
  if (podUid) out.podUid = podUid;
  if (containerName) out.kubernetesContainerName = containerName;
  return out;
}

/** One entry of Docker's `GET /containers/json` (also podman's compat API). */
export function containerFromDockerSummary(v: unknown, runtime: RuntimeName): ContainerInfo | undefined {
  if (!isRecord(v)) return undefined;
  const id = str(v.Id);
  if (!id || !CONTAINER_ID.test(id)) return undefined;
  const names = Array.isArray(v.Names) ? v.Names.filter((n): n is string => typeof n === 'string') : [];
  const labels = stringMap(v.Labels);
  const info: ContainerInfo = {
    id,
    name: (names[0] ?? id.slice(0, 12)).replace(/^\//, ''),
    runtime,
    labels,
    ...kubernetesFields(labels),
  };
  const image = str(v.Image);
  // An image given by id only (`sha256:...`) is not a name.
  if (image && !image.startsWith('sha256:')) info.imageName = image;
  const digest = imageId(v.ImageID, image);
  if (digest) info.imageDigest = digest;
  return info;
}

/** Docker's `GET /containers/<id>/json` (also podman's compat API). */
export function containerFromDockerInspect(v: unknown, runtime: RuntimeName): ContainerInfo | undefined {
  if (!isRecord(v)) return undefined;
  const id = str(v.Id);
  if (!id || !CONTAINER_ID.test(id)) return undefined;
  const config = isRecord(v.Config) ? v.Config : {};
  const state = isRecord(v.State) ? v.State : {};
  const labels = stringMap(config.Labels);
  const info: ContainerInfo = {
    id,
    name: (str(v.Name) ?? id.slice(0, 12)).replace(/^\//, ''),
    runtime,
    labels,
    ...kubernetesFields(labels),
  };
  const image = str(config.Image);
  if (image && !image.startsWith('sha256:')) info.imageName = image;
  const digest = imageId(v.Image, image);
  if (digest) info.imageDigest = digest;
  if (typeof state.Pid === 'number' && Number.isInteger(state.Pid) && state.Pid > 0) info.pid = state.Pid;
  return info;
}

/** What a CRI sandbox says about its pod. */
export interface SandboxInfo {
  id: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A PodSandbox (ListPodSandbox item) or PodSandboxStatus. */
export function sandboxFromCri(v: unknown): SandboxInfo | undefined {
  if (!isRecord(v)) return undefined;
  const id = str(v.id);
  if (!id || !OPAQUE_ID.test(id)) return undefined;
  const meta = isRecord(v.metadata) ? v.metadata : {};
  const out: SandboxInfo = { id, labels: stringMap(v.labels), annotations: stringMap(v.annotations) };
  const podName = str(meta.name);
  const podNamespace = str(meta.namespace);
  const podUid = str(meta.uid);
  if (podName) out.podName = podName;
  if (podNamespace) out.podNamespace = podNamespace;
  if (podUid) out.podUid = podUid;
  return out;
}

/** Extra facts only ContainerStatus(verbose) gives. */
export interface CriStatusExtras {
  pid?: number;
  cgroupsPath?: string;
  imageName?: string;
  imageDigest?: string;
}

/** ContainerStatusResponse: the image name by tag, the digest, and from `info.info` the pid and cgroups path. */
export function extrasFromCriStatus(v: unknown): CriStatusExtras {
  const out: CriStatusExtras = {};
  if (!isRecord(v)) return out;
  const status = isRecord(v.status) ? v.status : {};
  const image = isRecord(status.image) ? str(status.image.image) : undefined;
  if (image && !image.startsWith('sha256:')) out.imageName = image;
  const digest = imageId(status.image_id, status.image_ref, image);
  if (digest) out.imageDigest = digest;
  const info = stringMap(v.info);
  if (info.info) {
    try {
      const parsed: unknown = JSON.parse(info.info);
      if (isRecord(parsed)) {
        if (typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0) out.pid = parsed.pid;
        const spec = isRecord(parsed.runtimeSpec) ? parsed.runtimeSpec : {};
        const linux = isRecord(spec.linux) ? spec.linux : {};
        const cgroupsPath = str(linux.cgroupsPath);
        if (cgroupsPath) out.cgroupsPath = cgroupsPath;
      }
    } catch {
      // verbose info is best effort; the container itself is still fine
    }
  }
  return out;
}

/** A CRI Container (ListContainers item), joined with its sandbox and, when fetched, its verbose status. */
export function containerFromCri(v: unknown, runtime: RuntimeName, sandbox?: SandboxInfo,
    extras: CriStatusExtras = {}): ContainerInfo | undefined {
  if (!isRecord(v)) return undefined;
  const id = str(v.id);
  if (!id || !OPAQUE_ID.test(id)) return undefined;
  const meta = isRecord(v.metadata) ? v.metadata : {};
  const labels = stringMap(v.labels);
  const annotations = stringMap(v.annotations);
  const k8s = kubernetesFields(labels, annotations);
  const kubernetesContainerName = str(meta.name) ?? k8s.kubernetesContainerName;
  const info: ContainerInfo = {
    id,
    name: kubernetesContainerName ?? id.slice(0, 12),
    runtime,
    labels,
    ...k8s,
  };
  if (kubernetesContainerName) info.kubernetesContainerName = kubernetesContainerName;
  const podSandboxId = str(v.pod_sandbox_id);
  if (podSandboxId) info.podSandboxId = podSandboxId;
  if (sandbox) {
    if (sandbox.podName) info.podName = sandbox.podName;
    if (sandbox.podNamespace) info.podNamespace = sandbox.podNamespace;
    if (sandbox.podUid) info.podUid = sandbox.podUid;
  }
  const image = isRecord(v.image) ? str(v.image.image) : undefined;
  const imageName = extras.imageName ?? annotations['io.kubernetes.cri.image-name'] ??
    (image && !image.startsWith('sha256:') ? image : undefined);
  if (imageName) info.imageName = imageName;
  const digest = extras.imageDigest ?? imageId(v.image_id, v.image_ref, image);
  if (digest) info.imageDigest = digest;
  if (extras.pid) info.pid = extras.pid;
  return info;
}

export function isRecordLike(v: unknown): v is CriMessage {
  return isRecord(v);
}
