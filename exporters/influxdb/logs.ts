/**
 * Log records as InfluxDB points in the layout of Telegraf's `inputs.syslog`, which
 * Chronograf's log viewer (and Grafana panels written for it) read:
 *
 *   syslog,appname=web,facility=user,host=node-1,hostname=node-1,severity=err,... \
 *     message="...",severity_code=3i,facility_code=1i,timestamp=<ns>i,procid="<12 hex>",version=1i,container_id="<64 hex>" <ns>
 *
 * - tags: `appname` (the Kubernetes container name, else the container's name), `facility`
 *   (`user`), `hostname` and `host` (the node), `severity` (the level as syslog names it),
 *   `container_name` (`name`), `container_image` (the image without its tag, as in the metric
 *   layout), `stream`, and `namespace`, `pod`, `container` when known; then the static tags.
 * - fields: `message`, `severity_code` (0 emerg ... 7 debug), `facility_code` (1, user),
 *   `timestamp` (the record's time in ns), `procid` (the short container id), `version` (1),
 *   `container_id` (the full id, else the name).
 * - point time: the record's time in ns. Two records of one series with the very same time
 *   would be one point in InfluxDB (the later overwriting the earlier), so a record whose time
 *   equals the previous one of its series is written 1 ns after that one (a run of equal
 *   times: t, t+1ns, t+2ns, ...); the `timestamp` field keeps the record's own time.
 */
import { compareTime, levelOf, type Level, type LogRecord, type LogTime, recordTime, timeNs } from '../../src/logs.js';
import type { Labels } from '../../src/model.js';
import { containerIdOf } from '../../src/push.js';
import { parseImage } from './layout.js';
import { fieldString, seriesKey } from './lineprotocol.js';

export interface SyslogOptions {
  readonly measurement: string;
  /** The node: the `hostname` and `host` tags. */
  readonly host: string;
  /** Static tags; a point's own tags win on a clash. */
  readonly tags: Readonly<Record<string, string>>;
  readonly now: () => number;
}

/** Syslog severities by code, as Telegraf's syslog input names them. */
export const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

const LEVEL_CODE: Readonly<Record<Level, number>> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** The syslog severity code of a record: from its level, else err for stderr and info for stdout. */
export function severityCode(r: LogRecord): number {
  const level = levelOf(r);
  if (level !== undefined) return LEVEL_CODE[level];
  return r.stream === 'stderr' ? 3 : 6;
}

const MAX_TRACKED_SERIES = 100_000;

interface Identity {
  /** Tags without `severity` and `stream`, which vary by record. */
  readonly tags: ReadonlyArray<readonly [string, string]>;
  /** The fields that depend on the container only, encoded: `,procid=...,version=1i,container_id=...`. */
  readonly fields: string;
}

export class SyslogEncoder {
  private readonly identities = new WeakMap<Labels, Identity>();
  private readonly keys = new Map<string, string>();
  /** Per series, the last record's own time and the time it was written at. */
  private readonly last = new Map<string, { time: LogTime; at: LogTime }>();

  constructor(private readonly opts: SyslogOptions) {}

  private identity(labels: Labels): Identity {
    let id = this.identities.get(labels);
    if (id !== undefined) return id;
    const name = labels.get('name') ?? '';
    const container = labels.get('container');
    const own: Array<readonly [string, string]> = [
      ['appname', container ?? name],
      ['facility', 'user'],
      ['hostname', this.opts.host],
      ['host', this.opts.host],
      ['container_name', name],
      ['container_image', parseImage(labels.get('image') ?? '').name],
    ];
    for (const k of ['namespace', 'pod', 'container']) {
      const v = labels.get(k);
      if (v !== undefined) own.push([k, v]);
    }
    const ownKeys = new Set(own.map(([k]) => k).concat(['severity', 'stream']));
    const tags = [...own, ...Object.entries(this.opts.tags).filter(([k]) => !ownKeys.has(k))];
    const cid = containerIdOf(labels.get('id') ?? '');
    let fields = '';
    if (cid !== undefined) fields += `,procid=${fieldString(cid.slice(0, 12))}`;
    fields += ',version=1i';
    const full = cid ?? name;
    if (full !== '') fields += `,container_id=${fieldString(full)}`;
    id = { tags, fields };
    this.identities.set(labels, id);
    return id;
  }

  private seriesKey(id: Identity, severity: string, stream: string): string {
    const cacheKey = `${id.tags.map(([k, v]) => `${k}=${v}`).join('\0')}\0${severity}\0${stream}`;
    let key = this.keys.get(cacheKey);
    if (key === undefined) {
      if (this.keys.size >= MAX_TRACKED_SERIES) this.keys.clear();
      key = seriesKey(this.opts.measurement, [...id.tags, ['severity', severity], ['stream', stream]]);
      this.keys.set(cacheKey, key);
    }
    return key;
  }

  /** One line per record, newline separated, timestamps in ns (write with precision ns). */
  encode(records: readonly LogRecord[]): Buffer {
    const now = this.opts.now();
    let text = '';
    for (const r of records) {
      const id = this.identity(r.labels);
      const code = severityCode(r);
      const key = this.seriesKey(id, SEVERITIES[code] as string, r.stream);
      const t = recordTime(r, now);
      let at = t;
      const prev = this.last.get(key);
      // A run of records with one time goes out at t, t+1ns, t+2ns, ...
      if (prev !== undefined && compareTime(t, prev.time) === 0) at = prev.at.nanos === 999_999_999 ? { seconds: prev.at.seconds + 1, nanos: 0 } : { seconds: prev.at.seconds, nanos: prev.at.nanos + 1 };
      this.last.delete(key);
      this.last.set(key, { time: t, at });
      if (this.last.size > MAX_TRACKED_SERIES) this.last.delete(this.last.keys().next().value as string);
      text += `${text === '' ? '' : '\n'}${key} message=${fieldString(r.message)},severity_code=${code}i,facility_code=1i,timestamp=${timeNs(t)}i${id.fields} ${timeNs(at)}`;
    }
    return Buffer.from(text, 'utf8');
  }
}
