/** Schema pieces shared by the core's and the components' config schemas. */
import { type TString, Type } from '@sinclair/typebox';
import { LookoutError } from './errors.js';

export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';

/** A duration setting written like `500ms`, `10s`, `5m` or `1h`. */
export function Duration(defaultValue: string, description: string): TString {
  return Type.String({ default: defaultValue, pattern: DURATION_PATTERN, description });
}

/** Parses `500ms`, `10s`, `5m`, `1h` into milliseconds. */
export function parseDuration(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(s);
  if (!m) throw new LookoutError('LOOKOUT_ERR_CONFIG', `invalid duration "${s}": use a number and a unit, like 500ms, 10s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** `enabled: auto | true | false`, as every runtime collector spells it. */
export function enabledSchema(where: string) {
  return Type.Union([Type.Literal('auto'), Type.Boolean()], {
    default: 'auto',
    description: `\`auto\`: on when ${where} exists under the host root; \`true\`: on, and say so in the log when it is not there; \`false\`: off.`,
  });
}
