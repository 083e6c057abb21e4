#!/usr/bin/env node
// Copies the kernel's BTF blob (the .BTF section the kernel exposes as /sys/kernel/btf/vmlinux) out of a kernel
// image, so vmlinux.h for another architecture can be generated without booting it: an arm64 Image is a raw binary
// with the blob inside, found by its header (magic 0xeB9F, version 1, hdr_len 24). The candidate whose
// type and string sections are the largest wins (a kernel may hold small BTF-looking byte runs elsewhere).
//   extract-btf.js IMAGE OUT.btf
'use strict';
const fs = require('node:fs');

const [image, out] = process.argv.slice(2);
if (!image || !out) { process.stderr.write('usage: extract-btf.js IMAGE OUT.btf\n'); process.exit(2); }
const buf = fs.readFileSync(image);
const magic = Buffer.from([0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00]);
let best = null;
for (let off = buf.indexOf(magic); off >= 0; off = buf.indexOf(magic, off + 1)) {
  if (off + 24 > buf.length) break;
  const typeOff = buf.readUInt32LE(off + 8), typeLen = buf.readUInt32LE(off + 12);
  const strOff = buf.readUInt32LE(off + 16), strLen = buf.readUInt32LE(off + 20);
  const size = 24 + Math.max(typeOff + typeLen, strOff + strLen);
  // Types first, strings after, both inside the image, and the string section starts with the empty string.
  if (typeOff !== 0 || strOff < typeLen || off + size > buf.length || buf[off + 24 + strOff] !== 0) continue;
  if (!best || size > best.size) best = { off, size };
}
if (!best || best.size < 1 << 20) {
  process.stderr.write(`extract-btf: no kernel BTF (>1 MiB) found in ${image}: was it built with CONFIG_DEBUG_INFO_BTF?\n`);
  process.exit(1);
}
fs.writeFileSync(out, buf.subarray(best.off, best.off + best.size));
process.stdout.write(`extract-btf: ${best.size} bytes of BTF at offset ${best.off} of ${image}\n`);
