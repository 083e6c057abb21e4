// Builds the tiny test image every runtime test uses, offline: a root filesystem with Debian's busybox-static and its
// applet links, packaged as an OCI image layout archive (containerd, `ctr images import`) and as a docker-archive
// (`docker load`, `podman load`). Default command: sleep, so a container runs until it is killed.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TestImage {
  /** Fully qualified name, as containerd and CRI report it. */
  name: string;
  /** Short name as given to docker/podman (they add docker.io/ or localhost/ themselves). */
  shortName: string;
  /** sha256:<hex> of the image config: the image id runtimes report. */
  id: string;
  ociArchive: string;
  dockerArchive: string;
}

export const TEST_IMAGE_NAME = 'docker.io/tapio/busybox:test';
const SHORT_NAME = 'tapio/busybox:test';
const BUSYBOX = '/bin/busybox';

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function tarDirectory(dir: string, out: string): void {
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-cf', out,
    '.'], { stdio: 'pipe' });
}

/** Build the image under `workDir` (created if missing). Throws when busybox-static is not installed. */
export function buildTestImage(workDir: string): TestImage {
  if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} not found: install the busybox-static Debian package`);
  fs.mkdirSync(workDir, { recursive: true });
  const rootfs = path.join(workDir, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) {
    const link = path.join(rootfs, 'bin', a);
    if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
  }
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');

  const layerPath = path.join(workDir, 'layer.tar');
  tarDirectory(rootfs, layerPath);
  const layer = fs.readFileSync(layerPath);
  const layerHex = sha256(layer);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['sleep', '1000000'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
  }));
  const configHex = sha256(config);

  // OCI image layout.
  const oci = path.join(workDir, 'oci');
  fs.mkdirSync(path.join(oci, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(oci, 'blobs/sha256', layerHex), layer);
  fs.writeFileSync(path.join(oci, 'blobs/sha256', configHex), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layer.length }],
  }));
  const manifestHex = sha256(manifest);
  fs.writeFileSync(path.join(oci, 'blobs/sha256', manifestHex), manifest);
  fs.writeFileSync(path.join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(oci, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestHex}`, size: manifest.length,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'io.containerd.image.name': TEST_IMAGE_NAME, 'org.opencontainers.image.ref.name': 'test' },
    }],
  }));
  const ociArchive = path.join(workDir, 'image-oci.tar');
  tarDirectory(oci, ociArchive);

  // docker-archive: manifest.json naming the config and layer files.
  const da = path.join(workDir, 'docker');
  fs.mkdirSync(path.join(da, layerHex), { recursive: true });
  fs.writeFileSync(path.join(da, layerHex, 'layer.tar'), layer);
  fs.writeFileSync(path.join(da, `${configHex}.json`), config);
  fs.writeFileSync(path.join(da, 'manifest.json'), JSON.stringify([
    { Config: `${configHex}.json`, RepoTags: [SHORT_NAME], Layers: [`${layerHex}/layer.tar`] },
  ]));
  const dockerArchive = path.join(workDir, 'image-docker.tar');
  tarDirectory(da, dockerArchive);

  return { name: TEST_IMAGE_NAME, shortName: SHORT_NAME, id: `sha256:${configHex}`, ociArchive, dockerArchive };
}
