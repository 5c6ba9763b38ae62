/**
 * Reading deploy/docker/Dockerfile for the tests: its instructions by stage, and the build
 * context as its .dockerignore filters it. Covers what the Dockerfile uses (FROM ... AS,
 * WORKDIR, COPY [--from] [--chown], RUN, ENV, USER, VOLUME, EXPOSE, HEALTHCHECK, ENTRYPOINT,
 * CMD, LABEL, ARG), JSON (exec) forms, and line continuations; not heredocs or parser directives.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Instruction {
  readonly op: string;
  /** The text after the instruction word, continuations joined. */
  readonly rest: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

export interface Dockerfile {
  readonly args: Map<string, string>;
  readonly stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      line = line.trimEnd().slice(0, -1);
      i++;
      const next = lines[i] as string;
      if (/^\s*#/.test(next)) continue; // comment lines inside a continuation are skipped
      line += ` ${next.trim()}`;
    }
    const m = /^\s*(\w+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${line}"`);
    const op = (m[1] as string).toUpperCase();
    const rest = (m[2] as string).trim();
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k as string, v ?? '');
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`Dockerfile line ${start + 1}: FROM ${rest}`);
      stages.push({ name: f[2] ?? String(stages.length), from: (f[1] as string).replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile line ${start + 1}: ${op} before FROM`);
    stage.instructions.push({ op, rest, line: start + 1 });
  }
  return { args, stages };
}

/** The arguments of an exec-form (JSON array) instruction, or undefined for the shell form. */
export function execForm(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  const v = JSON.parse(rest) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`not a JSON string array: ${rest}`);
  return v;
}

export interface Copy {
  readonly from?: string;
  readonly chown?: string;
  readonly sources: string[];
  readonly dest: string;
}

export function parseCopy(rest: string): Copy {
  const words = rest.split(/\s+/);
  let from: string | undefined;
  let chown: string | undefined;
  while (words[0]?.startsWith('--')) {
    const w = words.shift() as string;
    if (w.startsWith('--from=')) from = w.slice(7);
    else if (w.startsWith('--chown=')) chown = w.slice(8);
    else throw new Error(`COPY option ${w} not handled`);
  }
  const dest = words.pop();
  if (dest === undefined || words.length === 0) throw new Error(`COPY ${rest}: needs sources and a destination`);
  return { from, chown, sources: words, dest };
}

/** ENV instructions of a stage, KEY=VALUE pairs. */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1] as string, (m[2] as string).replace(/^"|"$/g, ''));
  }
  return env;
}

/**
 * A .dockerignore: the patterns in order, `!` for exceptions, the last matching one deciding; a
 * pattern that matches a directory matches what is under it. `*` and `?` stay within one path
 * element, `**` spans any number of them (Docker's filepath.Match with its `**` extension).
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pat = (exclude ? l : l.slice(1)).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i] as string;
        if (c === '*' && pat[i + 1] === '*') {
          i++;
          if (pat[i + 1] === '/') {
            i++;
            re += '(?:.*/)?';
          } else re += '.*';
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { exclude, re: new RegExp(`^${re}$`) };
    });
  return (path: string): boolean => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = r.exclude;
    return excluded;
  };
}

/** Files under `dir` (relative to `context`) that the filter keeps. */
export function contextFiles(context: string, dir: string, ignored: (p: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const p = join(abs, e.name);
      const rel = relative(context, p);
      if (e.isDirectory()) walk(p);
      else if (!ignored(rel)) out.push(rel);
    }
  };
  const abs = join(context, dir);
  try {
    walk(abs);
  } catch {
    // a file, not a directory
    const rel = relative(context, abs);
    readFileSync(abs);
    if (!ignored(rel)) out.push(rel);
  }
  return out;
}
