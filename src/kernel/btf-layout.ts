// Reads struct layouts and enum constants from the BTF inside a compiled BPF object
// (`bpftool btf dump file <obj> format raw -j`). The C headers in bpf/include are the source of truth:
// src/kernel/layout-gen.ts uses this to generate src/kernel/layouts.generated.ts from bpf/testing/layouts.bpf.o,
// the only TypeScript definition of the shared layouts.
import { execFileSync } from 'node:child_process';

export interface FieldLayout {
  offset: number;
  size: number;
}

/** A struct as byte offsets and sizes; nested struct members are flattened with dotted names (`h.kind`). */
export interface StructLayout {
  name: string;
  size: number;
  fields: Record<string, FieldLayout>;
}

export interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
  bitfield_size?: number;
}

export interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  /** ENUM and ENUM64 constants. */
  values?: { name: string; val: number }[];
}

/** All types of an object's BTF, by id. Throws with bpftool's own words when the file has no readable BTF. */
export function readBtfTypes(objectPath: string): Map<number, BtfType> {
  let out: string;
  try {
    out = execFileSync('bpftool', ['btf', 'dump', 'file', objectPath, 'format', 'raw', '-j'], {
      encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`cannot read BTF of ${objectPath}: ${(err.stderr || err.message).trim()}`);
  }
  const parsed = JSON.parse(out) as { types: BtfType[] };
  return new Map(parsed.types.map((t) => [t.id, t]));
}

const QUALIFIERS = new Set(['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG']);

function sizeOf(types: Map<number, BtfType>, id: number, depth = 0): number {
  const t = types.get(id);
  if (!t || depth > 32) throw new Error(`BTF type ${id} is missing or nested too deep`);
  if (QUALIFIERS.has(t.kind)) return sizeOf(types, t.type_id!, depth + 1);
  if (t.kind === 'ARRAY') return sizeOf(types, t.type_id!, depth + 1) * (t.nr_elems ?? 0);
  if (t.kind === 'PTR') return 8;
  if (t.size !== undefined) return t.size;
  throw new Error(`BTF type ${id} (${t.kind} ${t.name}) has no size`);
}

export function resolve(types: Map<number, BtfType>, id: number): BtfType {
  let t = types.get(id);
  for (let i = 0; t && QUALIFIERS.has(t.kind) && i < 32; i++) t = types.get(t.type_id!);
  if (!t) throw new Error(`BTF type ${id} is missing`);
  return t;
}

function flatten(types: Map<number, BtfType>, struct: BtfType, base: number, prefix: string,
  out: Record<string, FieldLayout>): void {
  for (const m of struct.members ?? []) {
    if (m.bitfield_size || m.bits_offset % 8 !== 0) {
      throw new Error(`struct ${struct.name}: member ${m.name} is a bitfield; shared layouts must use whole bytes`);
    }
    const offset = base + m.bits_offset / 8;
    const t = resolve(types, m.type_id);
    const name = m.name && m.name !== '(anon)' ? `${prefix}${m.name}` : prefix.replace(/\.$/, '');
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      flatten(types, t, offset, name ? `${name}.` : '', out);
    } else {
      out[name] = { offset, size: sizeOf(types, m.type_id) };
    }
  }
}

/** The layout of `struct <name>` in the given BTF, or undefined when the object does not describe it. */
export function structLayout(types: Map<number, BtfType>, name: string): StructLayout | undefined {
  const struct = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === name);
  if (!struct) return undefined;
  const fields: Record<string, FieldLayout> = {};
  flatten(types, struct, 0, '', fields);
  return { name, size: struct.size ?? 0, fields };
}
