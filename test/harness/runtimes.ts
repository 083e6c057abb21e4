// Real container runtimes for tests, each with its own state in a temp dir and no network (notes/runtimes.md):
//   ContainerdHarness  containerd + CRI plugin; runs pod sandboxes with a kubelet-style cgroup parent and containers
//   DockerHarness      dockerd with its own data-root/exec-root/socket; `docker run --network none`
//   PodmanHarness      `podman system service` on a temp socket; `podman run --network none`
// Each start() throws HarnessSkip when a binary is missing (tests turn that into a skip with the message) and
// teardown() removes everything: containers, daemons, shims, mounts, cgroups in every hierarchy, temp dirs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CriClient, type CriMessage } from '../../src/identity/runtimes/cri';
import { buildTestImage, type TestImage } from './image';
import {
  Daemon, cgroupOfPid, killProcessesMentioning, missingBinaries, removeCgroups, run, unmountBelow, waitFor,
} from './processes';

export { buildTestImage, TEST_IMAGE_NAME, type TestImage } from './image';
export { cgroupOfPid, missingBinaries, removeCgroups, waitFor, type CgroupOfPid } from './processes';

/** A runtime cannot run here because a binary is missing; tests skip with this message. */
export class HarnessSkip extends Error {}

/** Start a harness, or skip the test with the harness's reason when a runtime binary is missing. */
export async function startOrSkip<T>(t: { skip(message?: string): void }, start: () => Promise<T>): Promise<T | undefined> {
  try {
    return await start();
  } catch (e) {
    if (e instanceof HarnessSkip) {
      t.skip(e.message);
      return undefined;
    }
    throw e;
  }
}

/** A running container as the tests see it. */
export interface RunningContainer {
  id: string;
  name: string;
  /** The container's first process. */
  pid: number;
  /** Its cgroup path in the id hierarchy and the kernel cgroup id (inode) BPF reports for it. */
  cgroupPath: string;
  cgroupId: bigint;
}

function running(id: string, name: string, pid: number): RunningContainer {
  const cg = cgroupOfPid(pid);
  return { id, name, pid, cgroupPath: cg.path, cgroupId: cg.id };
}

function requireBinaries(runtime: string, names: string[]): void {
  const missing = missingBinaries(names);
  if (missing.length > 0) throw new HarnessSkip(`${runtime}: missing ${missing.join(', ')} (install the Debian packages)`);
}

// Short temp paths: unix socket paths must stay under 108 bytes.
function makeTempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tapio-${tag}-`));
}

function cleanupDir(dir: string, cgroupPaths: string[]): void {
  killProcessesMentioning(dir);
  unmountBelow(dir);
  removeCgroups(cgroupPaths);
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  /** Defaults to the kubelet's cgroupfs layout: /kubepods/besteffort/pod<uid>. */
  cgroupParent?: string;
}

export interface RunningPod {
  sandboxId: string;
  spec: PodSpec;
  config: CriMessage;
}

export class ContainerdHarness {
  readonly socket: string;
  cri!: CriClient;
  private readonly daemon: Daemon;
  private readonly pods: RunningPod[] = [];
  private readonly cgroupPaths = new Set<string>(['/k8s.io']);

  private constructor(readonly dir: string, readonly image: TestImage) {
    this.socket = path.join(dir, 'containerd.sock');
    const config = path.join(dir, 'config.toml');
    const cniBin = path.join(dir, 'cni-bin');
    fs.mkdirSync(cniBin);
    fs.mkdirSync(path.join(dir, 'cni-conf'));
    if (fs.existsSync('/usr/lib/cni/loopback')) fs.symlinkSync('/usr/lib/cni/loopback', path.join(cniBin, 'loopback'));
    fs.writeFileSync(config, [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      '[grpc]',
      `  address = "${this.socket}"`,
      '[ttrpc]',
      `  address = "${this.socket}.ttrpc"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${image.name}"`,
      '  restrict_oom_score_adj = true',
      '  disable_apparmor = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = "${cniBin}"`,
      `    conf_dir = "${dir}/cni-conf"`,
      '',
    ].join('\n'));
    this.daemon = new Daemon('containerd', 'containerd', ['--config', config], path.join(dir, 'containerd.log'));
  }

  /** Start containerd with the CRI plugin and import the test image into `k8s.io`. */
  static async start(): Promise<ContainerdHarness> {
    requireBinaries('containerd', ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2']);
    const dir = makeTempDir('ctrd');
    let h: ContainerdHarness | undefined;
    try {
      const image = buildTestImage(path.join(dir, 'image'));
      h = new ContainerdHarness(dir, image);
      await h.daemon.start(h.socket);
      run('ctr', ['-a', h.socket, '-n', 'k8s.io', 'images', 'import', image.ociArchive]);
      h.cri = new CriClient(h.socket);
      return h;
    } catch (e) {
      if (h) await h.teardown();
      else cleanupDir(dir, []);
      throw e;
    }
  }

  /** Stop containerd only (shims and containers keep running, as in a real restart). */
  async stopDaemon(): Promise<void> {
    this.cri.close();
    await this.daemon.stop();
    fs.rmSync(this.socket, { force: true });
  }

  async restartDaemon(): Promise<void> {
    await this.daemon.start(this.socket);
    this.cri = new CriClient(this.socket);
  }

  /** RunPodSandbox like a kubelet with the cgroupfs driver, host network (no CNI needed). */
  async runPod(spec: PodSpec): Promise<RunningPod> {
    const cgroupParent = spec.cgroupParent ?? `/kubepods/besteffort/pod${spec.uid}`;
    this.cgroupPaths.add(cgroupParent);
    const config: CriMessage = {
      metadata: { name: spec.name, namespace: spec.namespace, uid: spec.uid, attempt: 0 },
      log_directory: path.join(this.dir, 'logs', spec.uid),
      labels: { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': spec.namespace,
        'io.kubernetes.pod.uid': spec.uid },
      linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'NODE' } } },
    };
    fs.mkdirSync(path.join(this.dir, 'logs', spec.uid), { recursive: true });
    const r = await this.cri.runPodSandbox(config);
    const pod = { sandboxId: String(r.pod_sandbox_id), spec, config };
    this.pods.push(pod);
    return pod;
  }

  /** Create and start a container in `pod` running `command` (default: a long sleep). */
  async runContainer(pod: RunningPod, name: string, command = ['sleep', '1000000']): Promise<RunningContainer> {
    const created = await this.cri.createContainer(pod.sandboxId, {
      metadata: { name, attempt: 0 },
      image: { image: this.image.name },
      command,
      log_path: `${name}.log`,
      labels: { 'io.kubernetes.container.name': name },
    }, pod.config);
    const id = String(created.container_id);
    await this.cri.startContainer(id);
    const status = await this.cri.containerStatus(id, true);
    const info = JSON.parse(String((status.info as Record<string, string>).info)) as { pid: number };
    return running(id, name, info.pid);
  }

  /** Run a command inside a container and wait for it (CRI ExecSync). */
  async exec(containerId: string, cmd: string[]): Promise<{ stdout: string; exitCode: number }> {
    const r = await this.cri.execSync(containerId, cmd);
    return { stdout: Buffer.from(r.stdout as Buffer).toString('utf8'), exitCode: Number(r.exit_code) };
  }

  async teardown(): Promise<void> {
    if (this.cri) {
      for (const pod of this.pods) {
        await this.cri.stopPodSandbox(pod.sandboxId).catch(() => {});
        await this.cri.removePodSandbox(pod.sandboxId).catch(() => {});
      }
      this.cri.close();
    }
    await this.daemon.stop();
    cleanupDir(this.dir, [...this.cgroupPaths]);
  }
}

/** Shared by Docker and podman: both are driven by their CLI and read through the Docker-compatible API. */
abstract class DockerLikeHarness {
  protected readonly containers: string[] = [];
  protected abstract readonly runtimeName: string;
  protected abstract readonly cgroupPrefix: string;
  protected abstract readonly cgroupLeafPrefix: string;
  /** Cgroups the runtime makes besides the containers' own (podman's conmon cgroup). */
  protected abstract readonly extraCgroups: string[];
  /** Arguments of `rm` that remove a running container at once. */
  protected abstract readonly forceRemove: string[];
  abstract readonly socket: string;

  protected constructor(readonly dir: string, readonly image: TestImage, protected readonly daemon: Daemon) {}

  protected abstract cli(args: string[]): string;

  /** `run -d --network none` a container running `command` (default: a long sleep); `runArgs` go before the image
   *  (volumes, capabilities, security options). */
  async run(name: string, command = ['sleep', '1000000'], runArgs: string[] = [], image = this.image.shortName): Promise<RunningContainer> {
    const id = this.cli(['run', '-d', '--network', 'none', '--name', name, ...runArgs, image, ...command]).trim();
    this.containers.push(id);
    const pid = Number(this.cli(['inspect', '--format', '{{.State.Pid}}', id]).trim());
    return running(id, name, pid);
  }

  /** `create` a container without starting it (`docker create`): the runtime knows it, nothing runs in it yet.
   *  `start` it later. Returns its id. */
  create(name: string, command = ['sleep', '1000000']): string {
    const id = this.cli(['create', '--network', 'none', '--name', name, this.image.shortName, ...command]).trim();
    this.containers.push(id);
    return id;
  }

  start(containerId: string): void {
    this.cli(['start', containerId]);
  }

  /** `import` a root filesystem tarball as image `tag` (offline), for tests that need more than busybox. */
  importRootfs(tarball: string, tag: string): void {
    this.cli(['import', tarball, tag]);
  }

  /** Run a command inside a container and wait for it; `execArgs` go before the container (`-t` for a terminal). */
  exec(containerId: string, cmd: string[], execArgs: string[] = []): { stdout: string } {
    return { stdout: this.cli(['exec', ...execArgs, containerId, ...cmd]) };
  }

  remove(containerId: string): void {
    this.cli([...this.forceRemove, containerId]);
  }

  async stopDaemon(): Promise<void> {
    await this.daemon.stop();
    fs.rmSync(this.socket, { force: true });
  }

  async restartDaemon(): Promise<void> {
    await this.daemon.start(this.socket);
  }

  async teardown(): Promise<void> {
    for (const id of this.containers) {
      try {
        this.cli([...this.forceRemove, id]);
      } catch {
        // daemon down or already removed: the cleanup below still kills and removes everything
      }
    }
    await this.daemon.stop();
    cleanupDir(this.dir, [...this.containers.map((id) => `${this.cgroupPrefix}/${this.cgroupLeafPrefix}${id}`),
      ...this.extraCgroups]);
  }
}

export class DockerHarness extends DockerLikeHarness {
  protected readonly runtimeName = 'docker';
  protected readonly cgroupPrefix = '/docker';
  protected readonly cgroupLeafPrefix = '';
  protected readonly extraCgroups: string[] = [];
  protected readonly forceRemove = ['rm', '-f'];
  readonly socket: string;

  private constructor(dir: string, image: TestImage) {
    const socket = path.join(dir, 'docker.sock');
    super(dir, image, new Daemon('dockerd', 'dockerd', [
      '-H', `unix://${socket}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'), '--bridge=none', '--iptables=false', '--ip6tables=false',
      '--log-level=warn', '--config-file', path.join(dir, 'daemon.json'),
    ], path.join(dir, 'dockerd.log')));
    fs.writeFileSync(path.join(dir, 'daemon.json'), '{}');
    this.socket = socket;
  }

  static async start(): Promise<DockerHarness> {
    requireBinaries('docker', ['dockerd', 'docker', 'containerd', 'runc']);
    const dir = makeTempDir('dckr');
    let h: DockerHarness | undefined;
    try {
      const image = buildTestImage(path.join(dir, 'image'));
      h = new DockerHarness(dir, image);
      await h.daemon.start(h.socket);
      await waitFor('dockerd to answer', () => { h!.cli(['version']); return true; }, 20_000);
      h.cli(['load', '-i', image.dockerArchive]);
      return h;
    } catch (e) {
      if (h) await h.teardown();
      else cleanupDir(dir, []);
      throw e;
    }
  }

  protected cli(args: string[]): string {
    return run('docker', ['-H', `unix://${this.socket}`, ...args]);
  }
}

export class PodmanHarness extends DockerLikeHarness {
  protected readonly runtimeName = 'podman';
  protected readonly cgroupPrefix = '/libpod_parent';
  protected readonly cgroupLeafPrefix = 'libpod-';
  protected readonly extraCgroups = ['/libpod_parent/conmon'];
  // podman's `rm -f` waits for the stop timeout (sleep as pid 1 ignores SIGTERM): no wait.
  protected readonly forceRemove = ['rm', '-f', '-t', '0'];
  readonly socket: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly globalArgs: string[];

  private constructor(dir: string, image: TestImage) {
    const socket = path.join(dir, 'podman.sock');
    const conf = path.join(dir, 'containers.conf');
    const env = { ...process.env, CONTAINERS_CONF: conf };
    const globalArgs = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'),
      '--tmpdir', path.join(dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
    super(dir, image, new Daemon('podman', 'podman', [...globalArgs, 'system', 'service', '--time', '0',
      `unix://${socket}`], path.join(dir, 'podman.log'), env));
    fs.writeFileSync(conf, [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      '',
    ].join('\n'));
    this.socket = socket;
    this.env = env;
    this.globalArgs = globalArgs;
  }

  static async start(): Promise<PodmanHarness> {
    requireBinaries('podman', ['podman', 'conmon', 'runc']);
    const dir = makeTempDir('pdmn');
    let h: PodmanHarness | undefined;
    try {
      const image = buildTestImage(path.join(dir, 'image'));
      h = new PodmanHarness(dir, image);
      h.cli(['load', '-i', image.dockerArchive]);
      await h.daemon.start(h.socket);
      return h;
    } catch (e) {
      if (h) await h.teardown();
      else cleanupDir(dir, []);
      throw e;
    }
  }

  protected cli(args: string[]): string {
    return run('podman', [...this.globalArgs, ...args], this.env);
  }
}

/** A fresh pod identity for tests. */
export function newPodSpec(name: string, namespace = 'tapio-test'): PodSpec {
  return { name, namespace, uid: randomUUID() };
}
