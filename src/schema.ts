/** Schema pieces shared by the core's and the components' config schemas. */
import { type TString, Type } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { errnoCode, LookoutError } from './errors.js';

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

/** A credential setting: redacted wherever the config is printed. */
export function Secret(description: string): TString {
  return Type.String({ default: '', writeOnly: true, description: `${description} Never printed; use \`\${VAR}\` to take it from the environment.` });
}

export function SecretFile(description: string): TString {
  return Type.String({ default: '', description });
}

/**
 * A credential from its setting or from the file `<key>_file` names (trailing newline
 * removed); '' when neither is set. Errors name the key and the file, never the value.
 */
export function readSecret(key: string, value: string, file: string): string {
  if (value !== '' && file !== '') throw new LookoutError('LOOKOUT_ERR_CONFIG', `config keys "${key}" and "${key}_file" are both set; set one of them`);
  if (file === '') return value;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "${key}_file": cannot read ${file} (${errnoCode(err) ?? 'error'})`);
  }
}

