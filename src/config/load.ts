// Loading config: a YAML or JSON file (optional), validated by the schema, with errors a person can act on.
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type TapioConfig } from './schema';
import { applyDeprecatedKeys, type DeprecationNote } from './deprecated';

const warnDeprecated: DeprecationNote = (m) => process.emitWarning(m, 'DeprecationWarning');

export class ConfigError extends Error {}

/** Parse and validate config text; throws ConfigError naming each bad field and why. Deprecated keys are mapped to
 *  their replacement with a note (a DeprecationWarning unless `note` is given). */
export function parseConfig(text: string, source = 'config', note: DeprecationNote = warnDeprecated): TapioConfig {
  let raw: unknown;
  try {
    raw = text.trim() === '' ? {} : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid YAML/JSON: ${(e as Error).message}`);
  }
  if (raw === null || raw === undefined) raw = {};
  raw = applyDeprecatedKeys(raw, (m) => note(`${source}: ${m}`));
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new ConfigError(`${source}: invalid configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}

export function loadConfig(path?: string): TapioConfig {
  if (!path) return parseConfig('', 'defaults');
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  return parseConfig(text, path);
}
