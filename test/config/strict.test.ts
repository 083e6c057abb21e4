// Every config object refuses unknown keys, at every depth: a typo in a nested section (export.otlpp,
// kernel.ringBufferByte, collectors.proces) must be an error, not a silently ignored key that switches a feature off.
// The walk covers the whole schema, so a section added later without .strict() fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { ConfigError, parseConfig } from '../../src/config/load';
import { configSchema } from '../../src/config/schema';

/** Every object schema reachable from `schema`, with its path, unwrapping defaults, optionals, pipes and records. */
function objectsIn(schema: z.ZodType, at: string, out: { path: string; schema: z.ZodObject }[], seen = new Set<unknown>()): void {
  if (seen.has(schema)) return;
  seen.add(schema);
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  switch (def.type) {
    case 'object': {
      out.push({ path: at || '(top level)', schema: schema as z.ZodObject });
      for (const [k, v] of Object.entries((schema as z.ZodObject).shape)) objectsIn(v as z.ZodType, at ? `${at}.${k}` : k, out, seen);
      return;
    }
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'catch': case 'readonly': case 'nonoptional':
      objectsIn(def.innerType as z.ZodType, at, out, seen);
      return;
    case 'pipe':
      objectsIn(def.in as z.ZodType, at, out, seen);
      objectsIn(def.out as z.ZodType, at, out, seen);
      return;
    case 'array':
      objectsIn(def.element as z.ZodType, `${at}[]`, out, seen);
      return;
    case 'record':
      objectsIn(def.valueType as z.ZodType, `${at}.*`, out, seen);
      return;
    case 'union':
      for (const o of def.options as z.ZodType[]) objectsIn(o, at, out, seen);
      return;
    default:
  }
}

test('every object in the config schema is strict (unknown keys are refused at every depth)', () => {
  const objects: { path: string; schema: z.ZodObject }[] = [];
  objectsIn(configSchema, '', objects);
  assert.ok(objects.length > 20, `walked ${objects.length} objects`);
  const loose = objects.filter((o) => {
    const catchall = (o.schema as unknown as { _zod: { def: { catchall?: { _zod: { def: { type: string } } } } } })._zod.def.catchall;
    return catchall?._zod.def.type !== 'never';
  }).map((o) => o.path);
  assert.deepEqual(loose, [], `these config objects accept unknown keys: ${loose.join(', ')}`);
});

test('the typos found by the hostile run are refused, each naming the key', () => {
  const cases: [string, RegExp][] = [
    ['kernel:\n  ringBufferByte: 8388608\n', /kernel.*ringBufferByte/],
    ['collectors:\n  proces:\n    enabled: false\n', /collectors.*proces/],
    ['export:\n  otlpp:\n    enabled: true\n', /export.*otlpp/],
    ['export:\n  otlp:\n    batch:\n      maxRecord: 10\n', /export\.otlp\.batch.*maxRecord/],
    ['export:\n  otlp:\n    retry:\n      initialBackofMs: 10\n', /export\.otlp\.retry.*initialBackofMs/],
    ['node:\n  nam: a\n', /node.*nam/],
    ['cluster:\n  nam: a\n', /cluster.*nam/],
    ['identity:\n  kubernetes:\n    owners:\n      resolv: false\n', /owners.*resolv/],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseConfig(text), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${text}: ${String(e)}`);
      assert.match(e.message, msg);
      return true;
    }, text);
  }
});
