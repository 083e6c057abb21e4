// Memory of a process the way an operator sees it, from /proc/PID/smaps: RSS (what `top` and
// process_resident_memory_bytes show), PSS (each page divided by the number of mappings that share it), and RSS by
// what holds it. BPF ring buffers are special: the kernel maps every page of a ring when it is mmap'ed, and maps the
// data area twice in a row (so a record that wraps reads as one piece): an 8 MiB ring shows as 16 MiB of RSS, 8 of
// PSS. The pages themselves exist once, allocated with the map (and charged once to the memory cgroup of the
// process that created it, as kernel memory), whether or not anything is mapped.

import * as fs from 'node:fs';

export interface MemoryRow {
  rssMiB: number;
  pssMiB: number;
  /** RSS by holder, MiB: BPF maps (ring buffers: twice their size), the C heap (malloc's main arena), other
   *  anonymous memory (V8's heap, thread stacks, malloc's other arenas), files (the node binary, libraries). */
  bpfMaps: { rss: number; pss: number };
  heap: number;
  anon: number;
  file: number;
}

/** Parses /proc/PID/smaps; undefined when the process is gone. */
export function memoryOf(pid: number | 'self'): MemoryRow | undefined {
  let text: string;
  try { text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return undefined; }
  const kb = { rss: 0, pss: 0, bpfRss: 0, bpfPss: 0, heap: 0, anon: 0, file: 0 };
  let name = '';
  for (const line of text.split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { name = m[1] ?? ''; continue; }
    const v = /^(Rss|Pss):\s+(\d+) kB/.exec(line);
    if (!v) continue;
    const n = Number(v[2]);
    if (v[1] === 'Pss') {
      kb.pss += n;
      if (name === 'anon_inode:bpf-map') kb.bpfPss += n;
      continue;
    }
    kb.rss += n;
    if (name === 'anon_inode:bpf-map') kb.bpfRss += n;
    else if (name === '[heap]') kb.heap += n;
    else if (name === '' || name.startsWith('[')) kb.anon += n;
    else kb.file += n;
  }
  const mib = (k: number) => k / 1024;
  return { rssMiB: mib(kb.rss), pssMiB: mib(kb.pss), bpfMaps: { rss: mib(kb.bpfRss), pss: mib(kb.bpfPss) },
    heap: mib(kb.heap), anon: mib(kb.anon), file: mib(kb.file) };
}

const f0 = (n: number) => n.toFixed(0);
/** "RSS (PSS): BPF maps x (pss y) + C heap + other anonymous + files", MiB. */
export function formatMemory(m: MemoryRow | undefined): string {
  if (!m) return '-';
  return `${f0(m.rssMiB)} (${f0(m.pssMiB)}): ${f0(m.bpfMaps.rss)} (${f0(m.bpfMaps.pss)}) + ${f0(m.heap)} + ${f0(m.anon)} + ${f0(m.file)}`;
}
