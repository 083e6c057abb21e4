// The cgroup collector: cgroup directories made and removed (bpf/cgroup.bpf.c). It emits no user-facing events;
// it tells identity about each cgroup the moment it exists, so a new container's first events already resolve to
// its cgroup path (and the path parser's container id) instead of waiting for a walk of the tree.
import { bootNsToUnixNano } from '../../kernel/clock';
import type { CollectorSpec, LoadedCollector } from '../../kernel/loader';
import type { CgroupChange } from '../../core/cgroup-change';
import type { CollectorContext } from '../types';
import { RingCollector, type RecordHandler } from '../ring-collector';
import { HEADER_SIZE, readCString, readHeader } from '../record-header';
import * as L from '../../kernel/layouts.generated';

export const CGROUP_RING = 'cgroup_events';
export const KIND_MKDIR = L.TAPIO_KIND_CGROUP_MKDIR;
export const KIND_RMDIR = L.TAPIO_KIND_CGROUP_RMDIR;
export const CGROUP_PATH_LEN = L.TAPIO_CGROUP_PATH_LEN;

/** struct cgroup_record (bpf/include/cgroup.h), from the generated layouts. */
export const CGROUP_RECORD = L.STRUCTS.cgroup_record;

export type { CgroupChange } from '../../core/cgroup-change';

export function cgroupCollectorSpec(): CollectorSpec {
  return {
    name: 'cgroup',
    object: 'cgroup.bpf.o',
    hooks: [
      { name: 'mkdir', implementations: [{ kind: 'tp_btf', program: 'cgroup_mkdir_btf' }, { kind: 'tracepoint', program: 'cgroup_mkdir_tp' }] },
      { name: 'rmdir', implementations: [{ kind: 'tp_btf', program: 'cgroup_rmdir_btf' }, { kind: 'tracepoint', program: 'cgroup_rmdir_tp' }] },
    ],
  };
}

/** Decodes one record; undefined for records of other hierarchies (cgroup v1) or bad bytes (counted by the caller). */
export function decodeCgroupRecord(view: DataView, offset: number, size: number): CgroupChange | 'other_hierarchy' | undefined {
  if (size < CGROUP_RECORD.size || offset + size > view.byteLength) return undefined;
  const h = readHeader(view, offset);
  if ((h.kind !== KIND_MKDIR && h.kind !== KIND_RMDIR) || h.size !== CGROUP_RECORD.size) return undefined;
  const f = CGROUP_RECORD.fields;
  if (view.getInt32(offset + f.hierarchy.offset, true) !== 0) return 'other_hierarchy';
  const len = view.getUint16(offset + f.path_len.offset, true);
  if (len >= CGROUP_PATH_LEN) return undefined;
  const path = readCString(view, offset + f.path.offset, len + 1);
  return {
    op: h.kind === KIND_MKDIR ? 'mkdir' : 'rmdir',
    id: view.getBigUint64(offset + f.id.offset, true),
    path: view.getUint16(offset + f.truncated.offset, true) ? '' : path, // a cut path would misattribute
    timeUnixNano: bootNsToUnixNano(h.tsNs),
  };
}

export class CgroupCollector extends RingCollector {
  readonly name = 'cgroup';
  protected readonly ringName = CGROUP_RING;
  private readonly counts: Record<string, number> = {};

  protected spec(): CollectorSpec {
    return cgroupCollectorSpec();
  }

  /** Makes no events: each change goes to ctx.cgroupChanged (identity). */
  protected prepare(_loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    return (view, offset, size) => {
      const c = decodeCgroupRecord(view, offset, size);
      if (c === undefined) {
        ctx.drops.count('decode', 'tapio.cgroup', size < HEADER_SIZE ? 'short_record' : 'bad_record');
        return;
      }
      if (c === 'other_hierarchy') return; // cgroup v1 controllers: ids there are not what BPF reports
      const key = `tapio.cgroup.${c.op}`;
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      ctx.cgroupChanged?.(c);
    };
  }

  protected eventCounts(): Record<string, number> {
    return this.counts;
  }
}
