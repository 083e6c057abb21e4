// A small Docker Engine API client over a unix socket, on node:http: list and inspect containers, stream /events.
// podman serves the same Docker-compatible API (`podman system service`), so this client talks to both.
import * as http from 'node:http';

export interface DockerClientOptions {
  /** Deadline of each request (not of the event stream), ms. */
  timeoutMs?: number;
  /** Largest response body accepted, bytes; a bigger answer is an error, not an out-of-memory. */
  maxBodyBytes?: number;
}

const LIVE_STATES = encodeURIComponent(JSON.stringify({ status: ['created', 'running', 'paused'] }));

/** One line of /events, as Docker and podman send it. */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export interface EventStream {
  close(): void;
}

export class DockerClient {
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;

  constructor(readonly socketPath: string, options: DockerClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxBodyBytes = options.maxBodyBytes ?? 32 << 20;
  }

  /** `GET /_ping`: resolves when the daemon answers. */
  async ping(): Promise<void> {
    await this.request('GET', '/_ping', false);
  }

  /** `GET /containers/json`: the containers that are or may soon be running (summaries). Created ones are asked for
   *  too: dockerd marks a container running only after its process has started, and a process is already exec'ing
   *  in a container that the default list (running only) leaves out. Exited ones are not: their cgroups are gone.
   *  (No `restarting`: podman 4 rejects the whole query for it, and a restarting container runs nothing until its
   *  start event names it again.) */
  listContainers(): Promise<unknown> {
    return this.request('GET', `/containers/json?all=1&filters=${LIVE_STATES}`);
  }

  /** `GET /containers/<id>/json`: one container in full. */
  inspectContainer(id: string): Promise<unknown> {
    return this.request('GET', `/containers/${encodeURIComponent(id)}/json`);
  }

  /** `GET /events` for containers, one callback per JSON line; onEnd fires once when the stream ends or fails. */
  events(onEvent: (e: DockerEvent) => void, onMalformed: (line: string) => void, onEnd: (err?: Error) => void):
      EventStream {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    const req = http.request({ socketPath: this.socketPath, path: `/events?filters=${filters}`, method: 'GET' },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          end(new Error(`GET /events on ${this.socketPath}: HTTP ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          if (buffered.length > this.maxBodyBytes) {
            req.destroy(new Error('event line too long'));
            return;
          }
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '') continue;
            let parsed: unknown;
            try {
              parsed = JSON.parse(line);
            } catch {
              onMalformed(line);
              continue;
            }
            if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) onEvent(parsed as DockerEvent);
            else onMalformed(line);
          }
        });
        res.on('end', () => end(new Error(`event stream from ${this.socketPath} ended`)));
        res.on('error', (e) => end(e));
      });
    req.on('error', (e) => end(e));
    req.end();
    return {
      close: () => {
        ended = true;
        req.destroy();
      },
    };
  }

  private request(method: string, path: string, json = true): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // A total deadline, not an idle timeout: a daemon that trickles its answer a byte at a time must not hold us.
      const deadline = setTimeout(() => req.destroy(new Error(`${method} ${path} on ${this.socketPath}: no complete answer in ${this.timeoutMs} ms`)), this.timeoutMs);
      deadline.unref();
      const settle = <T>(f: (v: T) => void) => (v: T) => { clearTimeout(deadline); f(v); };
      resolve = settle(resolve);
      reject = settle(reject);
      const req = http.request({ socketPath: this.socketPath, path, method }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBodyBytes) req.destroy(new Error(`answer larger than ${this.maxBodyBytes} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === undefined || res.statusCode >= 300) {
            reject(new Error(`${method} ${path} on ${this.socketPath}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
            return;
          }
          if (!json) {
            resolve(body);
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new MalformedAnswerError(`${method} ${path} on ${this.socketPath}: answer is not JSON`));
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }
}

/** The runtime answered, but not with what the API promises. */
export class MalformedAnswerError extends Error {}
