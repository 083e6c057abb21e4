// Child-process helpers shared by the request benchmarks: run a command for its stdout, wait for a line a child prints.
import { execFile, type ChildProcess } from 'node:child_process';

export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, out, err) => (e ? reject(new Error(`${cmd}: ${e.message}\n${err}`)) : resolve(out))));
}

export function waitLine(child: ChildProcess, re: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), timeoutMs);
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) { clearTimeout(t); resolve(m[0]); }
    });
  });
}
