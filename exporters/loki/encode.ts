/**
 * Log records as Loki push requests. Records are grouped into streams by their label set;
 * within a stream, entries are sorted by time (stable: records with the same time keep the
 * order they were read in), as Loki before 2.4 requires of each push and every Loki prefers.
 *
 * - `protobuf`: `logproto.PushRequest`, snappy block compressed, as Promtail sends it:
 *
 *     message PushRequest   { repeated StreamAdapter streams = 1; }
 *     message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
 *     message EntryAdapter  { google.protobuf.Timestamp timestamp = 1; string line = 2; }
 *     message Timestamp     { int64 seconds = 1; int32 nanos = 2; }
 *
 *   `labels` is the label set as Prometheus prints it: `{a="b", c="d"}`, sorted by name.
 * - `json`: `{"streams":[{"stream":{"a":"b"},"values":[["<ns since epoch>","line"]]}]}`.
 *
 * Across pushes, the newest time sent for each stream is remembered (for the most recent
 * 100,000 streams): an entry more than `maxOutOfOrderNs` behind it is sent with that newest
 * time instead, so that Loki does not refuse it as too far out of order.
 */
import snappy from 'snappyjs';
import { compareTime, type LogRecord, type LogTime, recordTime, timeNs } from '../../src/logs.js';
import type { Labels } from '../../src/model.js';
import { ProtoWriter } from '../../src/protobuf.js';

export interface LokiEncodeOptions {
  readonly encoding: 'protobuf' | 'json';
  /** Stream label names, in the order the config lists them. */
  readonly labels: readonly string[];
  readonly staticLabels: Readonly<Record<string, string>>;
  readonly job: string;
  readonly host: string;
  readonly maxOutOfOrderNs: number;
  readonly now: () => number;
  /** Told how many entries of a push had their time moved up (see the module comment). */
  readonly onRewritten?: (entries: number) => void;
}

/** A stream's label set, as text (the protobuf's `labels`, and the key of a stream) and as JSON. */
interface StreamLabels {
  readonly text: string;
  readonly json: string;
}

interface Entry {
  t: LogTime;
  readonly line: string;
  readonly seq: number;
}

const MAX_TRACKED_STREAMS = 100_000;
/** When no label applies at all: Loki needs at least one per stream. */
const FALLBACK: StreamLabels = { text: '{job="lookout"}', json: '{"job":"lookout"}' };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A label value as a quoted string both Prometheus's label parser and JSON read (lone surrogates replaced: neither takes them). */
function quote(v: string): string {
  return JSON.stringify(v.replace(LONE_SURROGATE, '\ufffd'));
}

export class LokiEncoder {
  private readonly cache = new WeakMap<Labels, Map<string, StreamLabels>>();
  private readonly newest = new Map<string, LogTime>();
  private readonly request = new ProtoWriter();
  private readonly stream = new ProtoWriter();
  private readonly entry = new ProtoWriter(1024);
  private readonly ts = new ProtoWriter(32);

  constructor(private readonly opts: LokiEncodeOptions) {}

  /** The label set of a record's stream; cached per identity label object, stream and level. */
  streamLabels(r: LogRecord): StreamLabels {
    let byKind = this.cache.get(r.labels);
    if (byKind === undefined) this.cache.set(r.labels, (byKind = new Map()));
    const kind = `${r.stream}\0${r.level ?? ''}`;
    let s = byKind.get(kind);
    if (s === undefined) byKind.set(kind, (s = this.makeLabels(r)));
    return s;
  }

  private makeLabels(r: LogRecord): StreamLabels {
    const pairs = new Map<string, string>();
    const kubernetes = r.labels.get('pod') !== undefined;
    for (const name of this.opts.labels) {
      let v: string | undefined;
      if (name === 'job') v = this.opts.job;
      else if (name === 'host') v = this.opts.host;
      else if (name === 'stream') v = r.stream;
      else if (name === 'level') v = r.level;
      else if (name === 'name' && kubernetes) v = undefined;
      else v = r.labels.get(name);
      if (v !== undefined && v !== '') pairs.set(name, v);
    }
    for (const [k, v] of Object.entries(this.opts.staticLabels)) if (!pairs.has(k) && v !== '') pairs.set(k, v);
    if (pairs.size === 0) return FALLBACK;
    const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return {
      text: `{${sorted.map(([k, v]) => `${k}=${quote(v)}`).join(', ')}}`,
      json: `{${sorted.map(([k, v]) => `${JSON.stringify(k)}:${quote(v)}`).join(',')}}`,
    };
  }

  /** Groups, sorts and fixes the times of one push's entries. */
  private streams(records: readonly LogRecord[]): Map<StreamLabels, Entry[]> {
    const now = this.opts.now();
    const streams = new Map<StreamLabels, Entry[]>();
    records.forEach((r, seq) => {
      const s = this.streamLabels(r);
      let list = streams.get(s);
      if (list === undefined) streams.set(s, (list = []));
      list.push({ t: recordTime(r, now), line: r.message, seq });
    });
    let rewritten = 0;
    for (const [s, list] of streams) {
      list.sort((a, b) => compareTime(a.t, b.t) || a.seq - b.seq);
      let newest = this.newest.get(s.text);
      for (const e of list) {
        if (newest !== undefined && compareTime(e.t, newest) < 0) {
          const behindNs = (newest.seconds - e.t.seconds) * 1e9 + (newest.nanos - e.t.nanos);
          if (behindNs > this.opts.maxOutOfOrderNs) {
            e.t = newest;
            rewritten++;
          }
        }
        if (newest === undefined || compareTime(e.t, newest) > 0) newest = e.t;
      }
      // Moved entries now sit at the newest time: sort again so that the push stays in order.
      if (rewritten > 0) list.sort((a, b) => compareTime(a.t, b.t) || a.seq - b.seq);
      if (newest !== undefined) {
        // Most recently used last, so the oldest-used stream is the one forgotten.
        this.newest.delete(s.text);
        this.newest.set(s.text, newest);
        if (this.newest.size > MAX_TRACKED_STREAMS) this.newest.delete(this.newest.keys().next().value as string);
      }
    }
    if (rewritten > 0) this.opts.onRewritten?.(rewritten);
    return streams;
  }

  /** One push request body for `records`. */
  encode(records: readonly LogRecord[]): Buffer {
    const streams = this.streams(records);
    return this.opts.encoding === 'json' ? this.json(streams) : this.protobuf(streams);
  }

  private protobuf(streams: Map<StreamLabels, Entry[]>): Buffer {
    const req = this.request;
    const stream = this.stream;
    const entry = this.entry;
    const ts = this.ts;
    req.reset();
    for (const [s, list] of streams) {
      stream.reset();
      stream.string(1, s.text);
      for (const e of list) {
        ts.reset();
        ts.int64(1, e.t.seconds);
        if (e.t.nanos !== 0) ts.int64(2, e.t.nanos);
        entry.reset();
        entry.message(1, ts);
        entry.string(2, e.line);
        stream.message(2, entry);
      }
      req.message(1, stream);
    }
    return Buffer.from(snappy.compress(req.bytes()));
  }

  private json(streams: Map<StreamLabels, Entry[]>): Buffer {
    const parts: string[] = [];
    for (const [s, list] of streams) {
      let values = '';
      for (const e of list) values += `${values === '' ? '' : ','}["${timeNs(e.t)}",${JSON.stringify(e.line)}]`;
      parts.push(`{"stream":${s.json},"values":[${values}]}`);
    }
    return Buffer.from(`{"streams":[${parts.join(',')}]}`, 'utf8');
  }
}
