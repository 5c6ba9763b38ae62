import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandEnv, validate } from '../../src/config.js';
import { anyText, onlyThrows, RUNS } from './arbitraries.js';

const CODE = 'LOOKOUT_ERR_CONFIG';
const DEFAULTS = validate({}, 'defaults') as unknown as Record<string, unknown>;

/** Every leaf path of the default config (arrays and empty records count as leaves). */
function leaves(o: unknown, path: string[] = []): string[][] {
  if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.keys(o).length === 0) return [path];
  return Object.entries(o).flatMap(([k, v]) => leaves(v, [...path, k]));
}
const LEAVES = leaves(DEFAULTS);
const TOP = Object.keys(DEFAULTS);

function setAt(root: Record<string, unknown>, path: readonly string[], v: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[path[path.length - 1] as string] = v;
  return copy;
}

/** Each problem line of a config error names a key: `config key "<k>"`. */
function problemKeys(message: string): string[] {
  const lines = message.split('\n').slice(1).map((l) => l.trim());
  expect(lines.length).toBeGreaterThan(0);
  return lines.map((l) => {
    const m = /^config key "([^"]*)"/.exec(l);
    expect(m, `problem line without a key: ${l}`).not.toBeNull();
    return (m as RegExpExecArray)[1] as string;
  });
}

const leafValue = fc.oneof(fc.jsonValue(), fc.string(), fc.integer(), fc.constantFrom('', '0s', '5m', '10x', '-1', 'auto', true, false, null, '127.0.0.1:99999', '[::1]:9337'));
/** The defaults with up to three leaves set to arbitrary values. */
const nearValid = fc
  .array(fc.tuple(fc.constantFrom(...LEAVES), leafValue), { minLength: 1, maxLength: 3 })
  .map((edits) => ({ edits, raw: edits.reduce((o, [p, v]) => setAt(o, p, v), DEFAULTS) }));
const knownKeys = fc.oneof(fc.constantFrom(...TOP), fc.string());
const rawObject = fc.oneof(fc.dictionary(knownKeys, fc.jsonValue()), fc.object(), nearValid.map((n) => n.raw));

describe('config validate()', () => {
  it('returns a config or throws LOOKOUT_ERR_CONFIG whose every problem names a key', () => {
    fc.assert(
      fc.property(rawObject, (raw) => {
        const r = onlyThrows(CODE, () => validate(raw, 'test'));
        if (r.ok) expect(typeof r.value.server.listen).toBe('string');
        else problemKeys(r.error.message); // ({"": 0} is rightly named `config key ""`)
      }),
      RUNS,
    );
  });

  it('an invalid leaf is named by its dotted path', () => {
    fc.assert(
      fc.property(nearValid, ({ edits, raw }) => {
        const r = onlyThrows(CODE, () => validate(raw, 'test'));
        if (r.ok) return;
        const keys = problemKeys(r.error.message);
        // Every key named is one of the edited leaves, or below one (a record or array value).
        for (const k of keys) expect(edits.some(([p]) => k === p.join('.') || k.startsWith(`${p.join('.')}.`))).toBe(true);
      }),
      RUNS,
    );
  });

  it('does not mutate its input', () => {
    fc.assert(
      fc.property(rawObject, (raw) => {
        const before = structuredClone(raw);
        onlyThrows(CODE, () => validate(raw, 'test'));
        expect(raw).toEqual(before);
      }),
      { numRuns: 1000 },
    );
  });

  // Was a bug found by this property (fixed): problem keys come from TypeBox's JSON-pointer paths
  // unescaped only for "/", so an unknown key containing "/" or "~" is misnamed.
  // Minimal counterexample: validate({"/": 0}) says `config key "~1" is not a known setting`.
  it('an unknown top-level key is named as written', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((k) => !TOP.includes(k) && !k.includes('"')), (k) => {
        const e = onlyThrows(CODE, () => validate({ [k]: 0 }, 'test'));
        expect(e.ok).toBe(false);
        expect(problemKeys((e as { error: Error }).error.message)).toEqual([k]);
      }),
      RUNS,
    );
  });
});

describe('config expandEnv()', () => {
  const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/);
  const env = fc.dictionary(name, fc.string({ unit: fc.constantFrom('a', 'b', '$', '{', '}', ' ') }));

  it('on arbitrary strings: a string or LOOKOUT_ERR_CONFIG naming the key path', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.string({ unit: fc.constantFrom('$', '{', '}', ':-', 'A', '_', '1', 'x', ' ') })), env, (s, e) => {
        const r = onlyThrows(CODE, () => expandEnv({ a: [{ b: s }] }, e));
        if (r.ok) expect(typeof ((r.value as { a: Array<{ b: unknown }> }).a[0] as { b: unknown }).b).toBe('string');
        else expect(r.error.message).toContain('config key "a[0].b"');
      }),
      { numRuns: 3000 },
    );
  });

  it('text without "${" is returned unchanged; non-strings pass through', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        fc.pre(!JSON.stringify(v).includes('${'));
        expect(expandEnv(v, {})).toEqual(v);
      }),
      RUNS,
    );
  });

  it('${VAR} is the value when set, ${VAR:-default} the default when unset, $${VAR} stays literal', () => {
    const plain = fc.string({ unit: fc.constantFrom('a', ' ', '/', ':', '-', '}') }).filter((s) => !s.includes('$'));
    fc.assert(
      fc.property(name, fc.string({ minLength: 1 }), plain, plain, fc.stringMatching(/^[^}]*$/), (n, v, pre, post, def) => {
        expect(expandEnv(`${pre}\${${n}}${post}`, { [n]: v })).toBe(`${pre}${v}${post}`);
        expect(expandEnv(`${pre}\${${n}:-${def}}${post}`, {})).toBe(`${pre}${def}${post}`);
        expect(expandEnv(`${pre}$\${${n}}${post}`, { [n]: v })).toBe(`${pre}\${${n}}${post}`);
      }),
      RUNS,
    );
  });
});
