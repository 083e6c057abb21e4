// A small ELF reader: which of a set of function names a file exports (its dynamic symbol table, .dynsym) and where
// each one's code is in the file, read with positioned reads so a 100 MB node binary costs a few KB of I/O. Only what
// TLS discovery needs: 64- and 32-bit, little- and big-endian, defined function symbols, and a few bytes of code
// (entry-points.ts). Bad or truncated files answer with an error, never a throw.
import * as fs from 'node:fs';

const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const MAX_SECTIONS = 4096;
const MAX_DYNSYM_BYTES = 64 << 20;

/** `codeOffsets`: each found function's first instruction as a file offset (what a uprobe by offset takes). */
export type ElfExports = { ok: true; found: Set<string>; codeOffsets: Map<string, number>; machine: number } | { ok: false; error: string };

/** e_machine of this machine's own binaries: a uprobe in a file built for another architecture (an arm64 libssl
 *  under qemu-user on an x86 node) would sit at a meaningless offset, so such files are refused with the reason. */
const ELF_MACHINES: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, ppc64: 21, s390x: 22, riscv64: 243 };
export const HOST_ELF_MACHINE = ELF_MACHINES[process.arch];

function readAt(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = fs.readSync(fd, b, 0, length, offset);
  if (n !== length) throw new Error(`truncated at offset ${offset} (wanted ${length} bytes, got ${n})`);
  return b;
}

/** Which of `names` the ELF file at `file` defines as exported functions; a file for another `machine` is an error. */
export function elfExports(file: string, names: readonly string[], machine = HOST_ELF_MACHINE): ElfExports {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  try {
    return { ok: true, ...scan(fd, new Set(names), machine) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    fs.closeSync(fd);
  }
}

/** `length` bytes of a file at `offset` (fewer at its end); undefined when it cannot be read. */
export function readCode(file: string, offset: number, length: number): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(length);
    return b.subarray(0, fs.readSync(fd, b, 0, length, offset));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function scan(fd: number, wanted: Set<string>, machine: number | undefined): { found: Set<string>; codeOffsets: Map<string, number>; machine: number } {
  const id = readAt(fd, 0, 64);
  if (id.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const is64 = id[4] === 2;
  const le = id[5] === 1;
  if ((id[4] !== 1 && id[4] !== 2) || (id[5] !== 1 && id[5] !== 2)) throw new Error('unknown ELF class or byte order');
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const fileMachine = u16(id, 0x12);
  if (machine !== undefined && fileMachine !== machine) throw new Error(`built for another architecture (ELF machine ${fileMachine}; this node's is ${machine})`);
  const addr = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  const shoff = addr(id, is64 ? 0x28 : 0x20);
  const shentsize = u16(id, is64 ? 0x3a : 0x2e);
  const shnum = u16(id, is64 ? 0x3c : 0x30);
  if (shoff === 0 || shnum === 0 || shnum > MAX_SECTIONS || shentsize < (is64 ? 64 : 40)) throw new Error('no section headers');
  const sh = readAt(fd, shoff, shentsize * shnum);
  const section = (i: number) => {
    const o = i * shentsize;
    return {
      type: u32(sh, o + 4),
      vaddr: addr(sh, o + (is64 ? 0x10 : 0x0c)),
      offset: addr(sh, o + (is64 ? 0x18 : 0x10)),
      size: addr(sh, o + (is64 ? 0x20 : 0x14)),
      link: u32(sh, o + (is64 ? 0x28 : 0x18)),
      entsize: addr(sh, o + (is64 ? 0x38 : 0x24)),
    };
  };
  const found = new Set<string>();
  const codeOffsets = new Map<string, number>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_DYNSYM) continue;
    if (s.link >= shnum || s.size > MAX_DYNSYM_BYTES) throw new Error('bad .dynsym');
    const strtab = section(s.link);
    if (strtab.size > MAX_DYNSYM_BYTES) throw new Error('bad .dynstr');
    const syms = readAt(fd, s.offset, s.size);
    const strs = readAt(fd, strtab.offset, strtab.size);
    const ent = s.entsize || (is64 ? 24 : 16);
    for (let o = 0; o + ent <= syms.length; o += ent) {
      const nameOff = u32(syms, o);
      const info = is64 ? syms[o + 4] : syms[o + 12];
      const shndx = u16(syms, is64 ? o + 6 : o + 14);
      const type = info & 0xf;
      if (shndx === 0 || (type !== STT_FUNC && type !== STT_GNU_IFUNC) || nameOff >= strs.length) continue;
      const end = strs.indexOf(0, nameOff);
      const name = strs.toString('latin1', nameOff, end < 0 ? strs.length : end);
      if (!wanted.has(name)) continue;
      found.add(name);
      if (shndx < shnum) {
        // The symbol's address lies in its own section: the same distance from that section's start in the file.
        const value = is64 ? addr(syms, o + 8) : u32(syms, o + 4);
        const home = section(shndx);
        if (value >= home.vaddr && value - home.vaddr < home.size) codeOffsets.set(name, home.offset + (value - home.vaddr));
      }
    }
  }
  return { found, codeOffsets, machine: fileMachine };
}
