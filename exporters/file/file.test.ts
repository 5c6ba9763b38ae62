import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExporterContext } from '../../src/component.js';
import { loadConfig } from '../../src/config.js';
import { createContext } from '../../src/context.js';
import type { LogRecord } from '../../src/logs.js';
import { Labels } from '../../src/model.js';
import { SelfMetrics } from '../../src/selfmetrics.js';
import { configSchema, type FileConfig } from './config.js';
import { fileExporter, recordLine, writeJsonString } from './index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'lookout-file-'));
  dirs.push(d);
  return d;
}

function ctx(): ExporterContext & { self: SelfMetrics } {
  return { ...createContext({ root: '/' }), self: new SelfMetrics('test'), snapshot: () => Promise.reject(new Error('unused')), collecting: () => undefined, route: () => undefined };
}

const config = (over: Partial<FileConfig>): FileConfig => ({ ...(Value.Default(configSchema, {}) as FileConfig), ...over });

const LABELS = new Labels([['id', '/docker/abc'], ['image', 'busybox'], ['name', 'web']]);
const rec = (message: string, extra: Partial<LogRecord> = {}): LogRecord => ({ time: '2026-11-25T01:04:27.710798097Z', stream: 'stdout', message, labels: LABELS, ...extra });

describe('the file exporter', () => {
  it('is off by default and with enabled: auto and no path: no log destination', () => {
    const e = fileExporter.create(config({}), ctx());
    expect(e.writeLogs).toBeUndefined();
    expect(fileExporter.create(config({ enabled: false, path: '/tmp/x' }), ctx()).writeLogs).toBeUndefined();
  });

  it('--log-output-file sets the path, which turns it on', () => {
    const { config: c } = loadConfig({ flags: { 'log-output-file': '/tmp/out.jsonl' }, env: {} });
    expect(c.exporters['file']).toEqual({ enabled: 'auto', path: '/tmp/out.jsonl', fsync: false });
    expect(fileExporter.create(c.exporters['file'] as FileConfig, ctx()).writeLogs).toBeTypeOf('function');
  });

  it('appends one JSON object per record, acknowledging after the write; lifecycle', async () => {
    const path = join(tmp(), 'out.jsonl');
    writeFileSync(path, '{"earlier":true}\n');
    const c = ctx();
    const e = fileExporter.create(config({ path, fsync: true }), c);
    await e.shutdown(); // before start: fine
    const e2 = fileExporter.create(config({ path, fsync: true }), c);
    await e2.start(new AbortController().signal);
    await e2.writeLogs?.([rec('hello'), rec('caf\u00e9 "q"\n\u0000', { stream: 'stderr', level: 'error', fields: { a: 1 }, source: '/var/log/x' })]);
    await e2.writeLogs?.([]);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1] as string)).toEqual({ time: '2026-11-25T01:04:27.710798097Z', stream: 'stdout', message: 'hello', labels: { id: '/docker/abc', image: 'busybox', name: 'web' } });
    expect(JSON.parse(lines[2] as string)).toEqual({ time: '2026-11-25T01:04:27.710798097Z', stream: 'stderr', message: 'caf\u00e9 "q"\n\u0000', labels: { id: '/docker/abc', image: 'busybox', name: 'web' }, level: 'error', fields: { a: 1 }, source: '/var/log/x' });
    expect((await c.self.exporterSent.get()).values.find((v) => v.labels['exporter'] === 'file')?.value).toBe(2);
    await e2.shutdown();
    await e2.shutdown();
    await expect(e2.writeLogs?.([rec('late')])).rejects.toThrow(/shut down/);
  });

  it('writes to stdout with -', async () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string, cb?: (err?: Error) => void) => {
      written.push(chunk);
      cb?.();
      return true;
    }) as typeof process.stdout.write);
    const e = fileExporter.create(config({ path: '-' }), ctx());
    await e.start(new AbortController().signal);
    await e.writeLogs?.([rec('to stdout')]);
    await e.shutdown();
    expect(written.join('')).toBe(`${recordLine(rec('to stdout'))}\n`);
  });

  it('fails to start, naming the path, when the file cannot be opened', async () => {
    const e = fileExporter.create(config({ path: join(tmp(), 'no/such/dir/out.jsonl') }), ctx());
    await expect(e.start(new AbortController().signal)).rejects.toThrow(/exporters\.file\.path: cannot open/);
  });
});

describe('the file exporter\'s byte writer', () => {
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: fc.constantFrom('\\', '"', '\n', '\u0000', '\u001f', '\u007f', 'a', '\ud800', '\udc00', '\u2028', 'é', '😀') }),
  );

  it('writes a string as JSON.stringify does, byte for byte (escapes, non-ASCII, lone surrogates)', () => {
    fc.assert(
      fc.property(text, (s) => {
        const buf = Buffer.alloc(s.length * 6 + 2);
        const end = writeJsonString(buf, 0, s);
        expect(buf.subarray(0, end).toString('utf8')).toBe(JSON.stringify(s));
        expect(end).toBe(Buffer.byteLength(JSON.stringify(s)));
      }),
      { numRuns: 3000 },
    );
  });

  it('writes each record as recordLine() and a newline, across buffer refills', async () => {
    const labels = [LABELS, new Labels([['id', 'x"y'], ['name', 'é\u0001']])];
    const record = fc.record(
      {
        time: fc.oneof(fc.constant('2026-11-25T01:04:27.710798097Z'), text),
        stream: fc.constantFrom('stdout' as const, 'stderr' as const),
        message: text,
        labels: fc.constantFrom(...labels),
        source: fc.oneof(fc.constant(undefined), fc.constant('/var/log/pods/a/0.log'), text),
        level: fc.oneof(fc.constant(undefined), fc.constant('warn')),
      },
      { requiredKeys: ['time', 'stream', 'message', 'labels'] },
    );
    const dir = tmp();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 40 }), async (recs) => {
        const rs = recs.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as LogRecord);
        const path = join(dir, `out-${n++}.jsonl`);
        const e = fileExporter.create(config({ path }), ctx());
        await e.start(new AbortController().signal);
        await e.writeLogs?.(rs);
        await e.writeLogs?.([rec('x'.repeat(200_000)), ...rs]);
        await e.shutdown();
        const want = [...rs, rec('x'.repeat(200_000)), ...rs].map((r) => `${recordLine(r)}\n`).join('');
        expect(readFileSync(path, 'utf8')).toBe(want.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
      }),
      { numRuns: 60 },
    );
  });
});
