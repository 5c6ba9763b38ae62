/**
 * Snappy block-format compression (https://github.com/google/snappy/blob/main/format_description.txt)
 * of byte templates with holes: ranges whose bytes change from one push to the next (a
 * sample's value and timestamp) while the rest (the series' labels and framing) stays.
 *
 * A block is a preamble (the uncompressed length, a varint) and elements: literals and
 * copies of earlier output at a distance back. A piece compressed on its own never refers
 * before its own start, so pieces concatenate into a valid block behind one preamble. Here
 * a hole is always inside a literal, at an offset of the compressed piece known in advance,
 * and no copy reads or writes a hole's bytes: a push then copies each container's compressed
 * piece, writes the new values into its holes, and compresses nothing.
 */

import { putVarint, varintSize } from '../../src/protobuf.js';

const HASH_BITS = 14;
const table = new Int32Array(1 << HASH_BITS);

/** A compressed piece: snappy elements without a preamble, and where each hole's first byte sits in them. */
export interface Compressed {
  readonly bytes: Buffer;
  readonly holes: Int32Array;
}

/** The literal element's tag and length bytes for a literal of `len` (1 or more) bytes. */
function literalHeader(out: Buffer, p: number, len: number): number {
  const n = len - 1;
  if (n < 60) out[p++] = n << 2;
  else if (n < 0x100) {
    out[p++] = 60 << 2;
    out[p++] = n;
  } else if (n < 0x10000) {
    out[p++] = 61 << 2;
    out[p++] = n & 0xff;
    out[p++] = n >>> 8;
  } else if (n < 0x1000000) {
    out[p++] = 62 << 2;
    out[p++] = n & 0xff;
    out[p++] = (n >>> 8) & 0xff;
    out[p++] = n >>> 16;
  } else {
    out[p++] = 63 << 2;
    out.writeUInt32LE(n, p);
    p += 4;
  }
  return p;
}

/** Copy elements for `len` (4 or more) bytes from `offset` (1 to 65535) back. */
function copies(out: Buffer, p: number, offset: number, len: number): number {
  const copy2 = (l: number): void => {
    out[p++] = ((l - 1) << 2) | 2;
    out[p++] = offset & 0xff;
    out[p++] = offset >>> 8;
  };
  while (len >= 68) {
    copy2(64);
    len -= 64;
  }
  if (len > 64) {
    copy2(60);
    len -= 60;
  }
  if (len <= 11 && offset < 2048) {
    out[p++] = ((offset >>> 8) << 5) | ((len - 4) << 2) | 1;
    out[p++] = offset & 0xff;
  } else copy2(len);
  return p;
}

const hash = (u32: number): number => Math.imul(u32, 0x1e35a7bd) >>> (32 - HASH_BITS);

/**
 * Compresses `raw`, keeping the holes (`holeLen` bytes from each offset in `holes`, ascending,
 * not overlapping) as literal bytes. Greedy matching on 4-byte hashes, as snappy's own
 * compressor does; no copy starts, ends or reads inside a hole.
 */
export function compressWithHoles(raw: Buffer, holes: ArrayLike<number>, holeLen: number): Compressed {
  const n = raw.length;
  const fixed = new Uint8Array(n).fill(1);
  for (let k = 0; k < holes.length; k++) fixed.fill(0, holes[k] as number, (holes[k] as number) + holeLen);
  table.fill(-1);
  // The worst case: everything literal, a tag of at most 5 bytes per literal run (one run per hole and one more).
  const out = Buffer.allocUnsafe(n + 5 * (holes.length + 1) + 16);
  const outHoles = new Int32Array(holes.length);
  let p = 0;
  let h = 0;
  const literal = (from: number, to: number): void => {
    if (to <= from) return;
    p = literalHeader(out, p, to - from);
    while (h < holes.length && (holes[h] as number) < to) {
      outHoles[h] = p + (holes[h] as number) - from;
      h++;
    }
    raw.copy(out, p, from, to);
    p += to - from;
  };
  const static4 = (i: number): boolean => fixed[i] === 1 && fixed[i + 1] === 1 && fixed[i + 2] === 1 && fixed[i + 3] === 1;
  let lit = 0;
  let i = 0;
  while (i + 4 <= n) {
    if (!static4(i)) {
      i++;
      continue;
    }
    const word = raw.readUInt32LE(i);
    const key = hash(word);
    const cand = table[key] as number;
    table[key] = i;
    if (cand < 0 || i - cand > 0xffff || raw.readUInt32LE(cand) !== word) {
      i++;
      continue;
    }
    let len = 4;
    while (i + len < n && fixed[i + len] === 1 && fixed[cand + len] === 1 && raw[cand + len] === raw[i + len]) len++;
    literal(lit, i);
    p = copies(out, p, i - cand, len);
    // A few positions inside the match, for the matches after it.
    for (let j = i + 1; j < i + len && j + 4 <= n; j += 3) if (static4(j)) table[hash(raw.readUInt32LE(j))] = j;
    i += len;
    lit = i;
  }
  literal(lit, n);
  return { bytes: Buffer.from(out.subarray(0, p)), holes: outHoles };
}

/** The preamble: the uncompressed length as a varint, written to end at `end`; returns where it starts. */
export function preambleBefore(out: Buffer, end: number, rawLength: number): number {
  const start = end - varintSize(rawLength);
  putVarint(out, start, rawLength);
  return start;
}
