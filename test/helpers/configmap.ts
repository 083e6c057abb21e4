// A temporary directory laid out as the kubelet lays out a mounted ConfigMap, and updated the way the kubelet
// updates it, for the config hot reload tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A directory laid out as the kubelet lays out a ConfigMap volume: config.yaml -> ..data/config.yaml, ..data -> a
 * timestamped directory. `publish` does what the kubelet does on an update: write a new timestamped directory, point
 * a temporary symlink at it and rename that over ..data (one atomic step), then remove the old directory.
 */
export class ConfigMapDir {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-configmap-'));
  readonly file = path.join(this.dir, 'config.yaml');
  private version = 0;
  private current?: string;

  constructor(text: string) {
    this.publish(text);
    fs.symlinkSync('..data/config.yaml', this.file);
  }

  publish(text: string): void {
    const ts = `..2026_01_01_00_00_${String(++this.version).padStart(2, '0')}.${process.pid}`;
    fs.mkdirSync(path.join(this.dir, ts));
    fs.writeFileSync(path.join(this.dir, ts, 'config.yaml'), text);
    fs.symlinkSync(ts, path.join(this.dir, '..data_tmp'));
    fs.renameSync(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    if (this.current) fs.rmSync(path.join(this.dir, this.current), { recursive: true });
    this.current = ts;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
