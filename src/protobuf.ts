/**
 * A minimal protobuf writer, for the messages lookout encodes by hand (Prometheus
 * remote-write's WriteRequest, Loki's PushRequest, OTLP's ExportMetricsServiceRequest):
 * varints, int64, fixed64, double, strings, nested messages and already-encoded bytes. The
 * tests decode what it writes with protobufjs or OpenTelemetry's own decoders.
 */

/** A growable byte buffer with the few protobuf primitives these messages need. */
export class ProtoWriter {
  /** The bytes; valid up to `pos`. Replaced when it grows, so never keep a reference across writes. */
  buf: Buffer;
  pos = 0;

  /** `initialBytes`: the starting size; it doubles as needed. */
  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  /** Makes room for `n` more bytes (then `buf` may be written directly up to `pos + n`). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(10);
    this.pos = putVarint(this.buf, this.pos, v);
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  int64(field: number, v: number): void {
    this.tag(field, 0);
    if (v >= 0) this.varint(v);
    else {
      // Two's complement over 64 bits, ten bytes: BigInt for the rare negative timestamp.
      let b = BigInt.asUintN(64, BigInt(v));
      this.ensure(10);
      while (b >= 0x80n) {
        this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
        b >>= 7n;
      }
      this.buf[this.pos++] = Number(b);
    }
  }

  string(field: number, s: string): void {
    this.tag(field, 2);
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  /** Writes a length-delimited field whose content is another writer's bytes. */
  message(field: number, inner: ProtoWriter): void {
    this.tag(field, 2);
    this.varint(inner.pos);
    this.ensure(inner.pos);
    inner.buf.copy(this.buf, this.pos, 0, inner.pos);
    this.pos += inner.pos;
  }

  /** A fixed64 field from a value in [0, 2^64) given as its low and high 32 bits. */
  fixed64(field: number, lo: number, hi: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeUInt32LE(lo >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  /** Copies already-encoded bytes. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    // TypedArray#set: a plain memory copy, cheaper than Buffer#copy for the short pieces copied here.
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  reset(): void {
    this.pos = 0;
  }

  /** A copy of the bytes written so far. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** The bytes written so far, not copied: valid until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Writes the varint of `v` (non-negative, below 2^53: lengths, tags, timestamps, nanoseconds)
 * at `pos`, which must have 10 bytes of room; returns the position after it. For encoders that
 * write a whole field in place after one `ensure`.
 */
export function putVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/** The bytes a varint of `v` (non-negative, below 2^53) takes. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}
