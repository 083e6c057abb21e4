// Config keys that were replaced, mapped to their replacement before validation so old files keep working, each with
// a note saying what to write instead. Remove an alias once no supported release documents the old key.

export type DeprecationNote = (message: string) => void;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * collectors.process.forkSampleEvery (a second fork sampler inside the process program) became
 * limits.sampling['process.fork'] (the one sampler, bpf/include/limits.h). An explicit limits.sampling entry wins.
 * Returns the config to validate; `raw` itself is not changed.
 */
export function applyDeprecatedKeys(raw: unknown, note: DeprecationNote): unknown {
  if (!isObj(raw) || !isObj(raw.collectors) || !isObj(raw.collectors.process) || !('forkSampleEvery' in raw.collectors.process)) {
    return raw;
  }
  const { forkSampleEvery, ...process } = raw.collectors.process;
  const limits = isObj(raw.limits) ? raw.limits : {};
  const sampling = isObj(limits.sampling) ? limits.sampling : {};
  const explicit = 'process.fork' in sampling;
  note(explicit
    ? "collectors.process.forkSampleEvery is deprecated and ignored: limits.sampling['process.fork'] is set"
    : `collectors.process.forkSampleEvery is deprecated: using it as limits.sampling['process.fork'] = ${String(forkSampleEvery)}; write that instead`);
  return {
    ...raw,
    collectors: { ...raw.collectors, process },
    limits: { ...limits, sampling: explicit ? sampling : { ...sampling, 'process.fork': forkSampleEvery } },
  };
}
