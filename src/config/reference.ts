// The configuration reference (docs/configuration.md), generated from the schema itself so the document cannot
// drift from what the agent accepts: every key with its type, bounds and default. `npm run docs:config` rewrites it;
// a test fails when the committed file is out of date.
import { z } from 'zod';
import { configSchema } from './schema';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') {
    return `map of ${typeOf(s.additionalProperties)}`;
  }
  const t = Array.isArray(s.type) ? s.type.join(' \\| ') : s.type ?? 'any';
  const bounds = [s.minimum !== undefined ? `>= ${s.minimum}` : '', s.maximum !== undefined ? `<= ${s.maximum}` : '',
    s.format ? s.format : ''].filter(Boolean).join(', ');
  return bounds ? `${t} (${bounds})` : t;
}

function rows(s: JsonSchema, prefix: string, out: string[]): void {
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.type === 'object' && child.properties && Object.keys(child.properties).length > 0) {
      rows(child, path, out);
      continue;
    }
    const def = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    out.push(`| \`${path}\` | ${typeOf(child)} | ${def} |`);
  }
}

export function configReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = [
    '# Configuration reference',
    '',
    'Generated from the schema (`src/config/reference.ts`; `npm run docs:config` rewrites this file). Every key is',
    'optional: an empty file, or none, is a working configuration. Unknown keys and out-of-range values are refused at',
    'start with the key and the reason. What each key means is written next to it in `src/config/<section>.ts`; the',
    'export section also reads the standard `OTEL_*` variables (docs/export.md).',
    '',
    '| key | type | default |',
    '|---|---|---|',
  ];
  rows(schema, '', out);
  return out.join('\n') + '\n';
}
