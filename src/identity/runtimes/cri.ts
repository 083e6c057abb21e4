// A small client for the Kubernetes Container Runtime Interface (runtime.v1) over a unix socket, on @grpc/grpc-js
// with our own proto subset (cri-api.proto). Identity uses the read calls; the test harness also uses the few write
// calls that run a pod. Every call has a deadline, so a hung runtime never hangs the agent.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Messages as proto-loader hands them to us (field names as in the .proto, 64-bit ints as strings). */
export type CriMessage = Record<string, unknown>;

const PROTO_FILE = 'cri-api.proto';

// Compiled code runs from dist/src/...; the .proto stays in src/ (tsc copies no .proto files).
function findProto(): string {
  const candidates = [
    path.join(__dirname, PROTO_FILE),
    path.resolve(__dirname, '../../../../src/identity/runtimes', PROTO_FILE),
  ];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`CRI proto ${PROTO_FILE} not found (looked in ${candidates.join(', ')})`);
}

type ServiceCtor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) =>
  grpc.Client;

let services: { runtime: ServiceCtor; image: ServiceCtor } | undefined;

function loadServices(): { runtime: ServiceCtor; image: ServiceCtor } {
  if (services) return services;
  const def = protoLoader.loadSync(findProto(), { keepCase: true, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
  };
  services = { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
  return services;
}

export interface CriClientOptions {
  /** Deadline of each call, ms. */
  deadlineMs?: number;
}

export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;
  private readonly deadlineMs: number;

  constructor(readonly socketPath: string, options: CriClientOptions = {}) {
    const { runtime, image } = loadServices();
    const address = `unix://${socketPath}`;
    // Runtime answers can be large on busy nodes (ListContainers with every annotation).
    const channelOptions = { 'grpc.max_receive_message_length': 64 << 20 };
    this.runtime = new runtime(address, grpc.credentials.createInsecure(), channelOptions);
    // Share the channel: one connection per runtime socket.
    this.image = new image(address, grpc.credentials.createInsecure(),
      { ...channelOptions, channelOverride: this.runtime.getChannel() } as grpc.ChannelOptions);
    this.deadlineMs = options.deadlineMs ?? 5000;
  }

  version(): Promise<CriMessage> {
    return this.call(this.runtime, 'Version', { version: 'v1' });
  }

  listContainers(filter: CriMessage = {}): Promise<CriMessage> {
    return this.call(this.runtime, 'ListContainers', { filter });
  }

  containerStatus(containerId: string, verbose = true): Promise<CriMessage> {
    return this.call(this.runtime, 'ContainerStatus', { container_id: containerId, verbose });
  }

  listPodSandbox(filter: CriMessage = {}): Promise<CriMessage> {
    return this.call(this.runtime, 'ListPodSandbox', { filter });
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<CriMessage> {
    return this.call(this.runtime, 'PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose });
  }

  imageStatus(image: string): Promise<CriMessage> {
    return this.call(this.image, 'ImageStatus', { image: { image }, verbose: false });
  }

  // Calls the test harness uses to run pods like a kubelet would.
  runPodSandbox(config: CriMessage): Promise<CriMessage> {
    return this.call(this.runtime, 'RunPodSandbox', { config });
  }

  createContainer(podSandboxId: string, config: CriMessage, sandboxConfig: CriMessage): Promise<CriMessage> {
    return this.call(this.runtime, 'CreateContainer',
      { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig });
  }

  startContainer(containerId: string): Promise<CriMessage> {
    return this.call(this.runtime, 'StartContainer', { container_id: containerId });
  }

  stopContainer(containerId: string, timeoutSeconds = 0): Promise<CriMessage> {
    return this.call(this.runtime, 'StopContainer', { container_id: containerId, timeout: timeoutSeconds });
  }

  removeContainer(containerId: string): Promise<CriMessage> {
    return this.call(this.runtime, 'RemoveContainer', { container_id: containerId });
  }

  stopPodSandbox(podSandboxId: string): Promise<CriMessage> {
    return this.call(this.runtime, 'StopPodSandbox', { pod_sandbox_id: podSandboxId });
  }

  removePodSandbox(podSandboxId: string): Promise<CriMessage> {
    return this.call(this.runtime, 'RemovePodSandbox', { pod_sandbox_id: podSandboxId });
  }

  execSync(containerId: string, cmd: string[], timeoutSeconds = 10): Promise<CriMessage> {
    return this.call(this.runtime, 'ExecSync', { container_id: containerId, cmd, timeout: timeoutSeconds },
      (timeoutSeconds + 5) * 1000);
  }

  close(): void {
    this.image.close();
    this.runtime.close();
  }

  private call(client: grpc.Client, method: string, request: CriMessage, deadlineMs = this.deadlineMs):
      Promise<CriMessage> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
      if (typeof fn !== 'function') {
        reject(new Error(`CRI method ${method} missing from the proto`));
        return;
      }
      fn.call(client, request, { deadline: Date.now() + deadlineMs },
        (err: grpc.ServiceError | null, response: CriMessage) => {
          if (err) reject(new Error(`CRI ${method} on ${this.socketPath}: ${err.details || err.message}`));
          else resolve(response);
        });
    });
  }
}
