// How much of the node the agent itself uses: CPU as a share of all cores together (the unit of the CPU budget:
// 2% of a 2-core node is 0.04 of one core) and resident memory. Measured from the process's own counters.
import * as os from 'node:os';

export interface ResourceSample {
  /** CPU time used since the previous sample over wall time x cores: 0.02 means 2% of the node. */
  cpuFraction: number;
  rssBytes: number;
  /** Wall time the CPU figure covers, ms. */
  windowMs: number;
}

export interface ResourceSource {
  sample(): ResourceSample;
}

/** CPU of this process (all its threads: JS, the ring reader, libuv) between calls, and RSS now. */
export class ProcessResources implements ResourceSource {
  private lastCpu = process.cpuUsage();
  private lastAt = process.hrtime.bigint();
  private last: ResourceSample = { cpuFraction: 0, rssBytes: process.memoryUsage.rss(), windowMs: 0 };

  constructor(readonly cores: number = os.availableParallelism()) {}

  sample(): ResourceSample {
    const now = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const wallUs = Number(now - this.lastAt) / 1000;
    const usedUs = (cpu.user - this.lastCpu.user) + (cpu.system - this.lastCpu.system);
    this.lastAt = now;
    this.lastCpu = cpu;
    this.last = {
      cpuFraction: wallUs > 0 ? usedUs / (wallUs * this.cores) : 0,
      rssBytes: process.memoryUsage.rss(),
      windowMs: wallUs / 1000,
    };
    return this.last;
  }

  /** The latest sample, without starting a new window. */
  latest(): ResourceSample {
    return this.last;
  }
}
