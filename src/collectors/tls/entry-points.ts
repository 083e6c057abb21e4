// Where to put a TLS uprobe so that it is cheap. On x86-64 the kernel runs a uprobe on some first instructions by
// emulating them (push, call, jmp, nop; ~0.2-0.5 us per hit on this VM) and single-steps every other one out of line
// (a second trap: ~16 us per hit here, bench/tls-overhead.ts). Debian's libssl.so.3 starts SSL_write, SSL_read and
// their _ex forms with `sub $n,%rsp`, so each probe there costs a single-step; each pair forwards to one internal
// function (ssl_write_internal, ssl_read_internal: the _ex signature, not exported) that starts with push. Probing
// that one function instead covers both public ones at a fraction of the cost. Anything that does not match the
// expected shape exactly keeps the probes on the exported names.
import { readCode, type ElfExports } from './elf';

const ELF_X86_64 = 62;
const CODE_BYTES = 96;

/** x86-64: is this first instruction one the kernel emulates for a uprobe (no out-of-line single-step)? */
export function emulatedByUprobes(code: Buffer): boolean {
  const b0 = code[0];
  if (b0 === undefined) return false;
  if (b0 >= 0x50 && b0 <= 0x57) return true; // push %reg
  if (b0 === 0x41 && code[1] !== undefined && code[1] >= 0x50 && code[1] <= 0x57) return true; // push %r8-%r15
  if (b0 === 0x90 || b0 === 0xe8 || b0 === 0xe9 || b0 === 0xeb) return true; // nop, call, jmp
  return b0 === 0x0f && code[1] === 0x1f; // multi-byte nop
}

const rel32Target = (code: Buffer, at: number, callAt: number) => at + callAt + 5 + code.readInt32LE(callAt + 1);

/** `[endbr64] sub $n,%rsp; call T`: the function only forwards its arguments (rdi, rsi, rdx, rcx are untouched) to
 *  T; T's file offset, given the function's own offset `at`. */
export function forwardedCall(code: Buffer, at: number): number | undefined {
  let i = 0;
  if (code.length >= 4 && code.readUInt32BE(0) === 0xf30f1efa) i = 4; // endbr64
  if (code[i] === 0x48 && code[i + 1] === 0x83 && code[i + 2] === 0xec) i += 4; // sub $imm8,%rsp
  else if (code[i] === 0x48 && code[i + 1] === 0x81 && code[i + 2] === 0xec) i += 7; // sub $imm32,%rsp
  else return undefined;
  if (code[i] !== 0xe8 || code.length < i + 5) return undefined;
  return rel32Target(code, at, i);
}

/** Does the code at `at` call `target` (a direct call) within its first bytes? An exact rel32 match is required,
 *  so a stray 0xe8 byte inside another instruction does not pass by accident. */
export function callsTarget(code: Buffer, at: number, target: number): boolean {
  for (let i = 0; i + 5 <= code.length; i++) if (code[i] === 0xe8 && rel32Target(code, at, i) === target) return true;
  return false;
}

/** One probe site for a direction: the internal function both exported names call, and the names it replaces. */
export interface SharedEntryPoint { fileOffset: number; covers: [string, string] }

/** For `SSL_write`/`SSL_write_ex` (or the read pair): probe their common callee when the _ex form only forwards to
 *  it, the plain form calls it too, the exported entry would be single-stepped and the callee's would not. */
export function sharedEntryPoint(file: string, exports: Extract<ElfExports, { ok: true }>, plain: string, ex: string,
  read: (file: string, offset: number, length: number) => Buffer | undefined = readCode): SharedEntryPoint | undefined {
  if (exports.machine !== ELF_X86_64) return undefined;
  const plainAt = exports.codeOffsets.get(plain);
  const exAt = exports.codeOffsets.get(ex);
  if (plainAt === undefined || exAt === undefined) return undefined;
  const exCode = read(file, exAt, CODE_BYTES);
  const plainCode = read(file, plainAt, CODE_BYTES);
  if (!exCode || !plainCode || emulatedByUprobes(exCode)) return undefined;
  const target = forwardedCall(exCode, exAt);
  if (target === undefined || target < 0 || !callsTarget(plainCode, plainAt, target)) return undefined;
  const targetCode = read(file, target, CODE_BYTES);
  if (!targetCode || !emulatedByUprobes(targetCode)) return undefined;
  return { fileOffset: target, covers: [plain, ex] };
}
