import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { MemorySink } from '../../test/helpers/logsink.js';
import { tmpRoot } from '../../test/helpers/collector.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../src/containers.js';
import { createContext } from '../../src/context.js';
import type { LogSink } from '../../src/logs.js';
import { LogRouter } from '../../src/logs.js';
import { type Family, SnapshotBuilder } from '../../src/model.js';
import { waitFor } from '../../test/helpers/util.js';
import { CheckpointStore } from './checkpoints.js';
import { configSchema, type LogsConfig } from './config.js';
import { parseCriLine, parseDockerLine, parseDockerLineJson } from './formats.js';
import { logsCollector } from './index.js';
import { levelOf, Processor } from './process.js';
import { clip, Tailer, type TailerOptions, TRUNCATION_MARKER } from './tail.js';
import { LogWatcher } from './watch.js';

const TD = fileURLToPath(new URL('./testdata/', import.meta.url));
/** Recorded from Docker 20.10 (see testdata/README.md). */
const ROTATED = 'a9122b8a381a3a83c32f610f0aca4e81d7c9c46635c6f4f0c15b1f76753243fa';
const SMALL = 'f179619a62d3d0df8c50d525f96c375ab5ba6630dfcbfc8b7db9739cf218ee4e';
const CRI_ID = 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912';
const POD = 'default_web-7d9f8b6c5-x2x4z_6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const DOCKER = 'var/lib/docker/containers';
const PODS = 'var/log/pods';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tmp = (prefix: string): string => tmpRoot(cleanups, `logs-${prefix}`);


const OPTS: Omit<TailerOptions, 'stateDir'> = {
  watch: false,
  rescanMs: 30,
  pollMs: 10,
  maxLineBytes: 256 * 1024,
  partialTimeoutMs: 300,
  rotateWaitMs: 100,
  batchMaxLines: 100,
  batchMaxBytes: 1 << 20,
  checkpointMs: 50,
};

function startTailer(root: string, sink: LogSink, stateDir: string, over: Partial<TailerOptions> = {}, containers = new ContainerDirectory()): Tailer {
  const ctx = createContext({ root, logs: sink, stateDir, containers });
  const t = new Tailer(ctx, { ...OPTS, dockerDir: join(root, DOCKER), podsDir: join(root, PODS), linksDir: join(root, 'var/log/containers'), stateDir, ...over });
  t.start();
  cleanups.push(() => t.stop());
  return t;
}

const docker = (_id: string, text: string, stream = 'stdout', time = '2026-11-25T01:04:12.340908295Z'): string => `${JSON.stringify({ log: text, stream, time })}\n`;

describe('line formats', () => {
  it('reads Docker json-file lines: whole, partial, stderr, escapes; undefined for anything else', () => {
    const p = (s: string) => parseDockerLine(Buffer.from(s), 0, Buffer.byteLength(s));
    expect(p('{"log":"hello\\n","stream":"stdout","time":"2026-11-25T01:04:27.710798097Z"}')).toEqual({ time: '2026-11-25T01:04:27.710798097Z', stream: 'stdout', text: 'hello', partial: false });
    expect(p('{"log":"xx","stream":"stderr","time":"t"}')).toEqual({ time: 't', stream: 'stderr', text: 'xx', partial: true });
    expect(p('{"log":"tab\\u0009here \\"q\\" \\\\ \\ufffd\\n","stream":"stdout","time":"t","attrs":{"a":"b"}}')?.text).toBe('tab\there "q" \\ \ufffd');
    for (const bad of ['', 'garbage', '{"log":1,"stream":"stdout","time":"t"}', '{"log":"x","stream":"stdin","time":"t"}', '[1]', 'null', '{"log":"x\\n","stream":"stdout"}']) expect(p(bad), bad).toBeUndefined();
  });

  it('reads Docker lines in place exactly as JSON.parse does (escapes, surrogates, invalid UTF-8, odd framing)', () => {
    const unit = fc.constantFrom('a', ' ', '"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '😀', '\ud800', '\udc00', '<', '/');
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit }));
    // Docker's own form, Go's (HTML-escaping, \u escapes), and raw bytes spliced in: each must parse as JSON.parse reads it, or be rejected by both.
    const goEscape = (s: string): string => s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const line = fc.tuple(text, fc.boolean(), fc.constantFrom('stdout', 'stderr', 'stdin'), fc.oneof(fc.constant('2026-11-25T01:04:27.710798097Z'), text), fc.boolean(), fc.uint8Array({ maxLength: 4 }), fc.nat({ max: 200 })).map(([msg, whole, stream, time, go, junk, at]) => {
      let json = `{"log":${JSON.stringify(whole ? `${msg}\n` : msg)},"stream":"${stream}","time":${JSON.stringify(time)}}`;
      if (go) json = goEscape(json);
      const b = Buffer.from(json, 'utf8');
      if (junk.length === 0) return b;
      const cut = Math.min(at, b.length);
      return Buffer.concat([b.subarray(0, cut), junk, b.subarray(cut)]);
    });
    fc.assert(
      fc.property(line, fc.uint8Array({ maxLength: 3 }), (b, pre) => {
        const buf = Buffer.concat([pre, b, Buffer.from('\n{"')]);
        expect(parseDockerLine(buf, pre.length, pre.length + b.length)).toEqual(parseDockerLineJson(b, 0, b.length));
      }),
      { numRuns: 20_000 },
    );
    const p = (s: string) => parseDockerLine(Buffer.from(s), 0, Buffer.byteLength(s));
    expect(p('{"log":"x\\u000a","stream":"stdout","time":"t"}')).toEqual({ time: 't', stream: 'stdout', text: 'x', partial: false });
    expect(p('{"log":"x\\\\n","stream":"stdout","time":"t"}')).toEqual({ time: 't', stream: 'stdout', text: 'x\\n', partial: true });
    expect(p('{"log":"\\ud83d\\ude00 \\u003c\\n","stream":"stderr","time":"t"}')).toEqual({ time: 't', stream: 'stderr', text: '😀 <', partial: false });
  });

  it('reads CRI lines: F and P tags, both streams, an empty message, offsets; undefined for anything else', () => {
    const p = (s: string) => parseCriLine(Buffer.from(s), 0, Buffer.byteLength(s));
    expect(p('2026-11-25T01:00:00.1012345Z stdout F line 0')).toEqual({ time: '2026-11-25T01:00:00.1012345Z', stream: 'stdout', text: 'line 0', partial: false });
    expect(p('2026-11-25T01:00:00Z stderr P  two  spaces ')).toEqual({ time: '2026-11-25T01:00:00Z', stream: 'stderr', text: ' two  spaces ', partial: true });
    expect(p('2026-11-25T01:00:00+02:00 stdout F ')?.text).toBe('');
    expect(p('2026-11-25T01:00:00Z stdout F')?.text).toBe('');
    expect(p('2026-11-25T01:00:00Z stdout F:x more')).toMatchObject({ text: 'more', partial: false });
    expect(p('2026-11-25T01:00:00Z stdout F caf\u00e9')?.text).toBe('caf\u00e9');
    for (const bad of ['', 'not a CRI line at all', '2026 stdin F x', '2026 stdout X x', '2026 stdout', 'x026 stdout F y', '2026 stdout FF y']) expect(p(bad), bad).toBeUndefined();
  });

  it('clips to a byte length without cutting a character', () => {
    expect(clip('abc', 10)).toBe('abc');
    expect(clip('\u00e9\u00e9\u00e9\u00e9', 5)).toBe('\u00e9\u00e9');
    expect(clip('x'.repeat(10), 4)).toBe('xxxx');
  });
});

describe('Docker json-file logs recorded from a real engine', () => {
  function root(): string {
    const r = tmp('docker');
    cpSync(join(TD, 'docker/containers'), join(r, DOCKER), { recursive: true });
    return r;
  }

  it('reads rotated files oldest first and joins the 16 KiB pieces of a 40,000-byte line split across a rotation', async () => {
    const r = root();
    const sink = new MemorySink();
    const dir = new ContainerDirectory();
    dir.update(ROTATED, { runtime: 'docker', name: 'lk-logrec', image: 'lookout-busybox' });
    const t = startTailer(r, sink, tmp('state'), {}, dir);
    await waitFor('the last line', () => (sink.messages().includes('done') ? true : undefined));
    const mine = sink.records.filter((x) => x.source?.includes(ROTATED));
    const msgs = mine.map((x) => x.message);
    const first = msgs.indexOf('line 1614');
    expect(first).toBe(0);
    for (let i = 1614; i < 3000; i++) expect(msgs[i - 1614]).toBe(`line ${i}`);
    const big = msgs[3000 - 1614] as string;
    expect(big).toBe('x'.repeat(40000));
    expect(msgs.slice(3000 - 1614 + 1)).toEqual(['\ufffd\ufffd bad utf8', 'tab\there "quoted" \\ back', 'done']);
    expect(mine[0]?.labels.toObject()).toEqual({ id: `/docker/${ROTATED}`, image: 'lookout-busybox', name: 'lk-logrec' });
    expect(mine[0]?.time).toBe('2026-11-25T01:04:12.340908295Z');
    expect(mine[0]?.stream).toBe('stdout');
    expect(t.errors.size).toBe(0);
  });

  it('passes every record of a small container once, stderr too, and sends the output left without a newline after partial_timeout', async () => {
    const r = root();
    const sink = new MemorySink();
    startTailer(r, sink, tmp('state'));
    await waitFor('the unterminated last output', () => (sink.messages().includes('no newline at exit') ? true : undefined), 5000);
    const mine = sink.records.filter((x) => x.source?.includes(SMALL));
    expect(mine.map((x) => [x.stream, x.message])).toEqual([
      ['stdout', 'hello'],
      ['stdout', '{"level":"error","msg":"json message"}'],
      ['stdout', ''],
      ['stdout', '  indented'],
      ['stdout', '\ufffd\ufffd bad utf8'],
      ['stdout', 'crlf\r'],
      ['stderr', 'to stderr'],
      ['stdout', 'no newline at exit'],
    ]);
    expect(mine[0]?.labels.toObject()).toEqual({ id: `/docker/${SMALL}`, image: '', name: SMALL });
  });

  it('follows a live rename rotation (max-file=3) without losing or repeating a line, draining the renamed file first', async () => {
    const r = tmp('rot');
    const id = 'b'.repeat(64);
    const d = join(r, DOCKER, id);
    mkdirSync(d, { recursive: true });
    const cur = join(d, `${id}-json.log`);
    writeFileSync(cur, '');
    const sink = new MemorySink();
    startTailer(r, sink, tmp('state'), { batchMaxLines: 7 });
    const N = 3000;
    for (let i = 0; i < N; i++) {
      appendFileSync(cur, docker(id, `n ${i}\n`));
      if (i % 200 === 199) {
        // Docker's rotate(): .1 -> .2 (the old .2 is gone), current -> .1, then a new current.
        if (existsSync(`${cur}.1`)) renameSync(`${cur}.1`, `${cur}.2`);
        renameSync(cur, `${cur}.1`);
        writeFileSync(cur, '');
      }
      if (i % 50 === 0) await new Promise((res) => setTimeout(res, 2));
    }
    await waitFor('every line', () => (sink.records.length >= N ? true : undefined), 10_000);
    expect(sink.messages()).toEqual(Array.from({ length: N }, (_, i) => `n ${i}`));
  });

  it('resumes from its checkpoint after a clean stop, and after a crash repeats only the batch in flight', async () => {
    const r = tmp('ckpt');
    const state = tmp('state');
    const id = 'c'.repeat(64);
    const d = join(r, DOCKER, id);
    mkdirSync(d, { recursive: true });
    const cur = join(d, `${id}-json.log`);
    writeFileSync(cur, Array.from({ length: 100 }, (_, i) => docker(id, `n ${i}\n`)).join(''));
    const s1 = new MemorySink();
    const t1 = startTailer(r, s1, state, { batchMaxLines: 10 });
    await waitFor('100 lines', () => (s1.records.length === 100 ? true : undefined));
    await t1.stop();
    expect(JSON.parse(readFileSync(join(state, 'checkpoints.json'), 'utf8')).files[0].offset).toBe(readFileSync(cur).length);
    appendFileSync(cur, Array.from({ length: 100 }, (_, i) => docker(id, `n ${100 + i}\n`)).join(''));

    // Second run: the sink takes 5 batches, then holds the 6th forever (the agent dies with it in flight).
    const s2 = new MemorySink();
    let taken = 0;
    const crashing: LogSink = {
      enabled: true,
      write: async (recs) => {
        if (taken === 5) return new Promise<void>(() => undefined);
        taken++;
        await s2.write(recs);
      },
    };
    startTailer(r, crashing, state, { batchMaxLines: 10, checkpointMs: 60_000 });
    await waitFor('5 batches', () => (taken === 5 ? true : undefined));
    await new Promise((res) => setTimeout(res, 50));
    expect(s2.messages()).toEqual(Array.from({ length: 50 }, (_, i) => `n ${100 + i}`));
    // No full checkpoint was written (checkpoint_interval 60s): the journal has the 5 batches.
    expect(readFileSync(join(state, 'checkpoints.journal'), 'utf8').trim().split('\n')).toHaveLength(5);

    // Third run, on the state the "dead" second one left: starts at its 6th batch.
    const s3 = new MemorySink();
    const state3 = tmp('state3');
    cpSync(state, state3, { recursive: true });
    startTailer(r, s3, state3, { batchMaxLines: 10 });
    await waitFor('the rest', () => (s3.records.length === 50 ? true : undefined));
    expect(s3.messages()).toEqual(Array.from({ length: 50 }, (_, i) => `n ${150 + i}`));
  });

  it('holds reading while the sink has not acknowledged (backpressure), and retries a failed write', async () => {
    const r = tmp('bp');
    const id = 'd'.repeat(64);
    const d = join(r, DOCKER, id);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `${id}-json.log`), Array.from({ length: 50 }, (_, i) => docker(id, `n ${i}\n`)).join(''));
    const sink = new MemorySink();
    sink.hold();
    sink.failNext = 2;
    const t = startTailer(r, sink, tmp('state'), { batchMaxLines: 10 });
    await new Promise((res) => setTimeout(res, 100));
    expect(sink.writes).toBe(1);
    expect(t.recordsRead).toBe(10);
    sink.release();
    await waitFor('all', () => (sink.records.length === 50 ? true : undefined), 5000);
    expect(sink.messages()).toEqual(Array.from({ length: 50 }, (_, i) => `n ${i}`));
    expect(t.errors.get('deliver')).toBe(2);
    expect(t.recordsDelivered).toBe(50);
  });

  it('passes a file of random bytes on as raw records, counted as parse errors, and keeps going', async () => {
    const r = tmp('garbage');
    const id = 'e'.repeat(64);
    const d = join(r, DOCKER, id);
    mkdirSync(d, { recursive: true });
    const bytes = Buffer.alloc(300_000);
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      bytes[i] = x >> 16;
    }
    writeFileSync(join(d, `${id}-json.log`), Buffer.concat([bytes, Buffer.from(`\n${docker(id, 'after the garbage\n')}`)]));
    const sink = new MemorySink();
    const t = startTailer(r, sink, tmp('state'));
    await waitFor('the good line', () => (sink.messages().includes('after the garbage') ? true : undefined), 5000);
    expect(t.errors.get('parse')).toBeGreaterThan(100);
    expect(sink.records.length).toBeGreaterThan(100);
  });
});

describe('CRI logs (containerd, CRI-O)', () => {
  function root(): string {
    const r = tmp('cri');
    cpSync(join(TD, 'cri'), r, { recursive: true, verbatimSymlinks: true });
    return r;
  }

  it('reads the rotated file first, joins P pieces across the rotation, names the container from the pod path and symlink', async () => {
    const sink = new MemorySink();
    const t = startTailer(root(), sink, tmp('state'));
    await waitFor('the last line', () => (sink.messages().includes('after the bad line') ? true : undefined));
    const msgs = sink.messages();
    expect(msgs.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
    expect(msgs[50]).toBe('warning: to stderr');
    expect(sink.records[50]?.stream).toBe('stderr');
    expect(msgs[51]).toBe('y'.repeat(40 * 1024));
    expect(msgs.slice(52, 102)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${50 + i}`));
    expect(msgs.slice(102)).toEqual(['', 'caf\u00e9 \u65e5\u672c', 'with an offset', 'not a CRI line at all', 'after the bad line']);
    expect(sink.records[0]?.labels.toObject()).toEqual({ id: '', image: '', name: CRI_ID, namespace: 'default', pod: 'web-7d9f8b6c5-x2x4z', container: 'app' });
    expect(sink.records[0]?.time).toBe('2026-11-25T01:00:00.1012345Z');
    expect(sink.records[104]?.time).toBe('2026-11-25T01:00:04.2320915+02:00');
    expect(t.errors.get('parse')).toBe(1);
  });

  it('uses the runtime metadata when the container directory knows the container', async () => {
    const dir = new ContainerDirectory();
    dir.update(CRI_ID, { runtime: 'containerd', name: CRI_ID, image: 'nginx:1.27', namespace: 'default', pod: 'web-7d9f8b6c5-x2x4z', container: 'app' });
    dir.sawCgroup(CRI_ID, `/kubepods/besteffort/pod6f1b2c3d/${CRI_ID}`, 1, undefined);
    const sink = new MemorySink();
    startTailer(root(), sink, tmp('state'), {}, dir);
    await waitFor('records', () => (sink.records.length > 0 ? true : undefined));
    expect(sink.records[0]?.labels.toObject()).toEqual({ id: `/kubepods/besteffort/pod6f1b2c3d/${CRI_ID}`, image: 'nginx:1.27', name: CRI_ID, namespace: 'default', pod: 'web-7d9f8b6c5-x2x4z', container: 'app' });
  });

  it('detects a copy-truncate, counts it and reads the file again from the start', async () => {
    const r = root();
    const sink = new MemorySink();
    const t = startTailer(r, sink, tmp('state'));
    await waitFor('the last line', () => (sink.messages().includes('after the bad line') ? true : undefined));
    const n = sink.records.length;
    const f = join(r, PODS, POD, 'app/0.log');
    truncateSync(f, 0);
    appendFileSync(f, '2026-11-25T02:00:00Z stdout F after truncation\n');
    await waitFor('the new line', () => (sink.messages().includes('after truncation') ? true : undefined), 5000);
    expect(sink.records.length).toBe(n + 1);
    expect(t.copyTruncates).toBe(1);
  });

  it('cuts a 50 MB line at max_line_bytes with a marker, skips the rest without holding it, and reads the next line', async () => {
    const r = tmp('huge');
    const d = join(r, PODS, 'ns_p_u', 'c');
    mkdirSync(d, { recursive: true });
    const f = join(d, '0.log');
    writeFileSync(f, '2026-11-25T01:00:00Z stdout F before\n2026-11-25T01:00:00Z stdout F ');
    const chunk = Buffer.alloc(1 << 20, 'z');
    for (let i = 0; i < 50; i++) appendFileSync(f, chunk);
    appendFileSync(f, '\n2026-11-25T01:00:01Z stdout F after\n');
    const sink = new MemorySink();
    const rss0 = process.memoryUsage.rss();
    const t = startTailer(r, sink, tmp('state'), { maxLineBytes: 64 * 1024 });
    await waitFor('the line after', () => (sink.messages().includes('after') ? true : undefined), 10_000);
    expect(sink.messages()).toEqual(['before', `${'z'.repeat(64 * 1024)}${TRUNCATION_MARKER}`, 'after']);
    expect(t.truncatedLines).toBe(1);
    expect(process.memoryUsage.rss() - rss0).toBeLessThan(40 * 1024 * 1024);
  });

  it('cuts a message joined from P pieces at max_line_bytes', async () => {
    const r = tmp('joined');
    const d = join(r, PODS, 'ns_p_u', 'c');
    mkdirSync(d, { recursive: true });
    const piece = 'q'.repeat(16384);
    const lines = Array.from({ length: 20 }, () => `2026-11-25T01:00:00Z stdout P ${piece}\n`).join('');
    writeFileSync(join(d, '0.log'), `${lines}2026-11-25T01:00:00Z stdout F end\n2026-11-25T01:00:00Z stdout F next\n`);
    const sink = new MemorySink();
    const t = startTailer(r, sink, tmp('state'), { maxLineBytes: 100_000 });
    await waitFor('next', () => (sink.messages().includes('next') ? true : undefined));
    expect(sink.messages()).toEqual([`${'q'.repeat(100_000)}${TRUNCATION_MARKER}`, 'next']);
    expect(t.truncatedLines).toBe(1);
  });

  it('keeps reading a file deleted while being read, through the descriptor it holds', async () => {
    const r = tmp('deleted');
    const d = join(r, PODS, 'ns_p_u', 'c');
    mkdirSync(d, { recursive: true });
    const f = join(d, '0.log');
    writeFileSync(f, Array.from({ length: 500 }, (_, i) => `2026-11-25T01:00:00Z stdout F n ${i}\n`).join(''));
    const sink = new MemorySink();
    sink.hold();
    const t = startTailer(r, sink, tmp('state'), { batchMaxLines: 10 });
    await waitFor('the first write', () => (sink.writes > 0 ? true : undefined));
    unlinkSync(f);
    rmSync(join(r, PODS, 'ns_p_u'), { recursive: true });
    sink.release();
    await waitFor('all 500', () => (sink.records.length === 500 ? true : undefined), 5000);
    await waitFor('the file forgotten', () => (t.files.size === 0 && t.groups.size === 0 ? true : undefined), 5000);
    expect(sink.messages()).toEqual(Array.from({ length: 500 }, (_, i) => `n ${i}`));
  });
});

describe('message processing', () => {
  const none = { keep: [], drop: [], redact: [], parseJson: false, detectLevel: false };

  it('keeps, drops, redacts, parses JSON and detects the level, in that order', () => {
    const p = new Processor({ keep: ['^keep', 'json'], drop: ['noise'], redact: [{ pattern: '(password|token)=\\S+', replacement: '$1=[REDACTED]' }], parseJson: true, detectLevel: true });
    expect(p.active).toBe(true);
    expect(p.apply('other line')).toBeUndefined();
    expect(p.apply('keep this noise')).toBeUndefined();
    expect(p.apply('keep level=warn password=hunter2 ok')).toEqual({ message: 'keep level=warn password=[REDACTED] ok', level: 'warn' });
    expect(p.apply('{"level":"ERROR","msg":"json","token":"x"}')).toEqual({ message: '{"level":"ERROR","msg":"json","token":"x"}', level: 'error', fields: { level: 'ERROR', msg: 'json', token: 'x' } });
    expect(p.apply('keep {not json')).toEqual({ message: 'keep {not json' });
    const r = new Processor({ ...none, redact: [{ pattern: 'token=\\w+', replacement: 'token=***' }], parseJson: true });
    // Redaction comes before parsing: the secret is not in the fields either.
    expect(r.apply('{"msg":"token=abc"}')).toEqual({ message: '{"msg":"token=***"}', fields: { msg: 'token=***' } });
    expect(new Processor(none).active).toBe(false);
  });

  it('names the key of a bad regular expression', () => {
    expect(() => new Processor({ ...none, drop: ['ok', '(unclosed'] })).toThrow(/collectors\.logs\.drop\[1\]/);
    expect(() => logsCollector.create({ ...(Value.Default(configSchema, {}) as LogsConfig), keep: ['['] }, createContext({ root: '/' }))).toThrow(/collectors\.logs\.keep\[0\]/);
  });

  it('detects levels in the usual spellings', () => {
    const cases: Array<[string, string | undefined]> = [
      ['level=info msg=x', 'info'],
      ['time=1 lvl=dbug', 'debug'],
      ['2026-11-25 12:00:00 ERROR something broke', 'error'],
      ['[warn] disk almost full', 'warn'],
      ['<Fatal> x', undefined],
      ['WARNING: deprecated', 'warn'],
      ['panic: runtime error', 'fatal'],
      ['an error occurred in the middle', 'error'],
      ['nothing here', undefined],
      ['errors=0 informational', undefined],
    ];
    for (const [m, l] of cases) expect(levelOf(m, undefined), m).toBe(l);
    expect(levelOf('x', { severity: 'Warning' })).toBe('warn');
  });

  it('drops and counts filtered lines, still moving the checkpoint past them, and counts lines per level', async () => {
    const r = tmp('proc');
    const id = '7'.repeat(64);
    mkdirSync(join(r, DOCKER, id), { recursive: true });
    writeFileSync(join(r, DOCKER, id, `${id}-json.log`), ['level=info a', 'healthz probe', 'level=error b', 'plain'].map((m) => docker(id, `${m}\n`)).join(''));
    const sink = new MemorySink();
    const state = tmp('state');
    const c = logsCollector.create(
      { ...(Value.Default(configSchema, {}) as LogsConfig), watch: false, poll_interval: '10ms', rescan_interval: '30ms', drop: ['healthz'], detect_level: true },
      createContext({ root: r, logs: sink, stateDir: state }),
    );
    await c.start(new AbortController().signal);
    await waitFor('3 records', () => (sink.records.length === 3 ? true : undefined));
    expect(sink.records.map((x) => [x.message, x.level])).toEqual([['level=info a', 'info'], ['level=error b', 'error'], ['plain', undefined]]);
    // Counted once acknowledged, just after the sink took them.
    const fams = await waitFor('the counts', async () => {
      const b = new SnapshotBuilder(0, () => undefined);
      await c.collect(b);
      const m = new Map(b.build().families.map((f) => [f.def.name, f]));
      return m.get('lookout_log_lines_total')?.values.length === 3 ? m : undefined;
    });
    const lines = fams.get('lookout_log_lines_total') as Family;
    expect(lines.extras.map((e, i) => `${e?.text} ${lines.values[i]}`).sort()).toEqual(['stream="stdout",level="" 1', 'stream="stdout",level="error" 1', 'stream="stdout",level="info" 1']);
    expect(fams.get('lookout_log_dropped_lines_total')?.values).toEqual([1]);
    await c.shutdown();
    const saved = JSON.parse(readFileSync(join(state, 'logs/checkpoints.json'), 'utf8')) as { files: Array<{ offset: number; path: string }> };
    expect(saved.files[0]?.offset).toBe(readFileSync(saved.files[0]?.path as string).length);
  });
});

describe('compressed rotated files (.gz)', () => {
  const cri = (i: number) => `2026-11-25T01:00:00.${String(i).padStart(6, '0')}Z stdout F n ${i}\n`;
  const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => cri(from + k)).join('');
  const nums = (sink: MemorySink) => sink.messages().map((m) => Number(m.slice(2)));
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

  function podDir(): { r: string; d: string } {
    const r = tmp('gz');
    const d = join(r, PODS, 'ns_p_u', 'c');
    mkdirSync(d, { recursive: true });
    return { r, d };
  }

  it('reads the kubelet\'s compressed rotations first, oldest first, then the plain ones', async () => {
    const { r, d } = podDir();
    writeFileSync(join(d, '0.log.20261125-010000.gz'), gzipSync(lines(0, 300)));
    writeFileSync(join(d, '0.log.20261125-010100.gz'), gzipSync(lines(300, 600)));
    writeFileSync(join(d, '0.log.20261125-010200'), lines(600, 900));
    writeFileSync(join(d, '0.log'), lines(900, 1000));
    const sink = new MemorySink();
    startTailer(r, sink, tmp('state'));
    await waitFor('1000', () => (sink.records.length >= 1000 ? true : undefined));
    await new Promise((res) => setTimeout(res, 100));
    expect(nums(sink)).toEqual(range(0, 1000));
  });

  it('after a restart, goes on inside the .gz a partly read rotated file was compressed to', async () => {
    const { r, d } = podDir();
    const state = tmp('state');
    const rotated = join(d, '0.log.20261125-010200');
    writeFileSync(rotated, lines(0, 500));
    writeFileSync(join(d, '0.log'), '');
    const s1 = new MemorySink();
    let taken = 0;
    const sink: LogSink = { enabled: true, write: async (recs) => (taken++ < 3 ? s1.write(recs) : new Promise<void>(() => undefined)) };
    const t1 = startTailer(r, sink, state, { batchMaxLines: 100 });
    await waitFor('3 batches', () => (taken >= 3 ? true : undefined));
    await t1.stop();
    expect(nums(s1)).toEqual(range(0, 300));
    // The kubelet compresses it while the agent is down.
    writeFileSync(`${rotated}.gz`, gzipSync(readFileSync(rotated)));
    unlinkSync(rotated);
    const s2 = new MemorySink();
    startTailer(r, s2, state, { batchMaxLines: 100 });
    await waitFor('the rest', () => (s2.records.length >= 200 ? true : undefined));
    await new Promise((res) => setTimeout(res, 100));
    expect(nums(s2)).toEqual(range(300, 500));
  });

  it('skips the .gz copy of a rotated file it is still reading through its descriptor', async () => {
    const { r, d } = podDir();
    const rotated = join(d, '0.log.20261125-010200');
    writeFileSync(rotated, lines(0, 500));
    writeFileSync(join(d, '0.log'), lines(500, 510));
    const sink = new MemorySink();
    sink.hold();
    startTailer(r, sink, tmp('state'), { batchMaxLines: 100 });
    await waitFor('the first write', () => (sink.writes > 0 ? true : undefined));
    writeFileSync(`${rotated}.gz`, gzipSync(readFileSync(rotated)));
    unlinkSync(rotated);
    await new Promise((res) => setTimeout(res, 100)); // a rescan finds the .gz
    sink.release();
    await waitFor('510', () => (sink.records.length >= 510 ? true : undefined));
    await new Promise((res) => setTimeout(res, 200));
    expect(nums(sink)).toEqual(range(0, 510));
  });
});

describe('multi-line records', () => {
  it('joins a stack trace into one record by its start pattern, sends the last after multiline_timeout, and checkpoints before an unfinished one', async () => {
    const r = tmp('multi');
    const d = join(r, PODS, 'ns_p_u', 'c');
    mkdirSync(d, { recursive: true });
    const cri = (m: string) => `2026-11-25T01:00:00.5Z stdout F ${m}\n`;
    const head = [cri('2026-11-25 12:00:00 ERROR boom'), cri('java.lang.RuntimeException: x'), cri('\tat com.example.Foo.bar(Foo.java:10)'), cri('\tat com.example.Main.main(Main.java:3)')].join('');
    const last = cri('2026-11-25 12:00:01 INFO next');
    const f = join(d, '0.log');
    writeFileSync(f, head + last);
    const state = tmp('state');
    const sink = new MemorySink();
    const t = startTailer(r, sink, state, { multilineStart: '^\\d{4}-\\d{2}-\\d{2}', multilineTimeoutMs: 60_000 });
    await waitFor('the first record', () => (sink.records.length === 1 ? true : undefined));
    expect(sink.messages()).toEqual(['2026-11-25 12:00:00 ERROR boom\njava.lang.RuntimeException: x\n\tat com.example.Foo.bar(Foo.java:10)\n\tat com.example.Main.main(Main.java:3)']);
    await new Promise((res) => setTimeout(res, 100));
    await t.stop();
    // The INFO record was read but not sent: the checkpoint stays at its start.
    const saved = JSON.parse(readFileSync(join(state, 'checkpoints.json'), 'utf8')) as { files: Array<{ offset: number }> };
    expect(saved.files[0]?.offset).toBe(Buffer.byteLength(head));
    const sink2 = new MemorySink();
    startTailer(r, sink2, state, { multilineStart: '^\\d{4}-\\d{2}-\\d{2}', multilineTimeoutMs: 100 });
    await waitFor('the last record', () => (sink2.records.length === 1 ? true : undefined));
    expect(sink2.messages()).toEqual(['2026-11-25 12:00:01 INFO next']);
  });
});

describe('watching (chokidar)', () => {
  it('watches the directories that gain an entry per container, not those written in', () => {
    const w = new LogWatcher([['/d/containers', 'docker'], ['/p', 'pods']], createContext({ root: '/' }).log, () => undefined, () => undefined);
    const id = 'a'.repeat(64);
    expect(w.ignored('/d/containers')).toBe(false);
    expect(w.ignored(`/d/containers/${id}`)).toBe(false);
    expect(w.ignored(`/d/containers/${id}/${id}-json.log`)).toBe(true);
    expect(w.ignored(`/d/containers/${id}/mounts`)).toBe(true);
    expect(w.ignored('/d/containers/not-an-id')).toBe(true);
    expect(w.ignored('/p')).toBe(false);
    expect(w.ignored('/p/ns_pod_uid')).toBe(false);
    expect(w.ignored('/p/ns_pod_uid/app')).toBe(false);
    expect(w.ignored('/p/ns_pod_uid/app/0.log')).toBe(true);
    expect(w.ignored('/p/not-a-pod')).toBe(true);
    expect(w.ignored('/elsewhere')).toBe(true);
  });

  it('picks up a new container at once, long before the rescan', async () => {
    const r = tmp('watch');
    mkdirSync(join(r, DOCKER), { recursive: true });
    const sink = new MemorySink();
    startTailer(r, sink, tmp('state'), { watch: true, rescanMs: 60_000, pollMs: 100 });
    await new Promise((res) => setTimeout(res, 300)); // chokidar's first walk
    const id = '9'.repeat(64);
    const t0 = Date.now();
    mkdirSync(join(r, DOCKER, id));
    const f = join(r, DOCKER, id, `${id}-json.log`);
    writeFileSync(f, docker(id, 'first\n'));
    await waitFor('first', () => (sink.records.length === 1 ? true : undefined), 5000, 10);
    appendFileSync(f, docker(id, 'second\n'));
    await waitFor('second', () => (sink.records.length === 2 ? true : undefined), 5000, 10);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(sink.messages()).toEqual(['first', 'second']);
  });
});

describe('checkpoint store', () => {
  it('writes atomically, replays the journal past the last full write, and ignores a torn last line', () => {
    const dir = join(tmp('store'), 'logs');
    const errors: unknown[] = [];
    const s = new CheckpointStore(dir, (_k, e) => errors.push(e));
    expect(s.load().size).toBe(0);
    const e = (ino: number, offset: number) => ({ dev: 1, ino, fp: 'x', fpLen: 3, offset, path: `/p${ino}` });
    s.journal([e(1, 10)]);
    expect(s.save([e(1, 10), e(2, 20)])).toBe(true);
    s.journal([e(1, 15)]);
    s.journal([e(3, 5)]);
    appendFileSync(join(dir, 'checkpoints.journal'), '[99,1,1,');
    s.close();
    const m = new CheckpointStore(dir, (_k, err) => errors.push(err)).load();
    expect([...m.values()].map((x) => [x.ino, x.offset]).sort()).toEqual([[1, 15], [2, 20], [3, 5]]);
    expect(readdirSync(dir).sort()).toEqual(['checkpoints.journal', 'checkpoints.json']);
    // The next process's first entry is a line of its own, not glued to the torn one.
    const next = new CheckpointStore(dir, (_k, err) => errors.push(err));
    next.load();
    next.journal([e(2, 25)]);
    next.close();
    const after = new CheckpointStore(dir, (_k, err) => errors.push(err)).load();
    expect([...after.values()].map((x) => [x.ino, x.offset]).sort()).toEqual([[1, 15], [2, 25], [3, 5]]);
    expect(errors).toEqual([]);
  });

  it('reports a state directory it cannot write, and keeps going', () => {
    const base = tmp('ro');
    writeFileSync(join(base, 'file'), '');
    const errors: string[] = [];
    const s = new CheckpointStore(join(base, 'file', 'logs'), (k) => errors.push(k));
    s.journal([{ dev: 1, ino: 1, fp: '', fpLen: 0, offset: 1, path: '/x' }]);
    expect(s.save([])).toBe(false);
    expect(errors).toEqual(['checkpoint_write', 'checkpoint_write']);
  });
});

describe('the logs collector', () => {
  const defaults = (over: Partial<LogsConfig> = {}): LogsConfig => ({ ...(Value.Default(configSchema, {}) as LogsConfig), watch: false, poll_interval: '10ms', rescan_interval: '30ms', ...over });

  function families(fams: readonly Family[]): Map<string, Family> {
    return new Map(fams.map((f) => [f.def.name, f]));
  }

  it('stays idle when no destination wants logs', async () => {
    const r = tmp('idle');
    cpSync(join(TD, 'docker/containers'), join(r, DOCKER), { recursive: true });
    const state = tmp('state');
    const c = logsCollector.create(defaults(), createContext({ root: r, logs: new LogRouter(), stateDir: state }));
    await c.start(new AbortController().signal);
    const b = new SnapshotBuilder(0, () => undefined);
    await c.collect(b);
    expect(b.build().seriesCount).toBe(0);
    await c.shutdown();
    expect(existsSync(join(state, 'logs'))).toBe(false);
  });

  it('lifecycle: shutdown before start, start, collect with metrics per container and stream, shutdown twice, checkpoints persisted', async () => {
    const r = tmp('life');
    cpSync(join(TD, 'docker/containers'), join(r, DOCKER), { recursive: true });
    const state = tmp('state');
    const sink = new MemorySink();
    const ctx = createContext({ root: r, logs: sink, stateDir: state });
    await logsCollector.create(defaults(), ctx).shutdown();
    const c = logsCollector.create(defaults({ partial_timeout: '100ms' }), ctx);
    await c.start(new AbortController().signal);
    await waitFor('all records', () => (sink.messages().includes('no newline at exit') && sink.messages().includes('done') ? true : undefined), 5000);
    await new Promise((res) => setTimeout(res, 50)); // acknowledged just after the sink took them
    const b = new SnapshotBuilder(0, () => undefined);
    await c.collect(b);
    const f = families(b.build().families);
    const lines = f.get('lookout_log_lines_total') as Family;
    const small = lines.targets.findIndex((t, i) => t.get('name') === SMALL && lines.extras[i]?.get('stream') === 'stderr');
    expect(lines.values[small]).toBe(1);
    const total = lines.values.reduce((a, v) => a + v, 0);
    expect(total).toBe(sink.records.length);
    const bytes = f.get('lookout_log_bytes_total') as Family;
    expect(bytes.values.reduce((a, v) => a + v, 0)).toBe(sink.records.reduce((a, x) => a + Buffer.byteLength(x.message), 0));
    expect(f.get('lookout_log_records_delivered_total')?.values).toEqual([sink.records.length]);
    expect(f.get('lookout_log_files')?.values).toEqual([4]);
    expect((f.get('lookout_log_lag_bytes') as Family).values.every((v) => v === 0)).toBe(true);
    expect(f.get('lookout_log_errors_total')?.values.every((v) => v === 0)).toBe(true);
    await c.shutdown();
    await c.shutdown();
    const saved = JSON.parse(readFileSync(join(state, 'logs/checkpoints.json'), 'utf8')) as { files: Array<{ offset: number; path: string }> };
    expect(saved.files).toHaveLength(4);
    for (const e of saved.files) expect(e.offset).toBe(readFileSync(e.path).length);
  });

  it('stops sending when the agent aborts, before its destinations are shut down', async () => {
    const r = tmp('abort');
    const id = 'f'.repeat(64);
    mkdirSync(join(r, DOCKER, id), { recursive: true });
    const cur = join(r, DOCKER, id, `${id}-json.log`);
    writeFileSync(cur, docker(id, 'one\n'));
    const sink = new MemorySink();
    const c = logsCollector.create(defaults(), createContext({ root: r, logs: sink, stateDir: tmp('state') }));
    const ac = new AbortController();
    await c.start(ac.signal);
    await waitFor('one', () => (sink.records.length === 1 ? true : undefined));
    ac.abort();
    await new Promise((res) => setTimeout(res, 20));
    appendFileSync(cur, docker(id, 'two\n'));
    await new Promise((res) => setTimeout(res, 100));
    expect(sink.records).toHaveLength(1);
    await c.shutdown();
  });
});
