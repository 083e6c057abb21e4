// Scrub rules (headers, query strings, bodies, command lines) and route templates, as a user would check them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isIdSegment, routeTemplate } from '../../src/protocols/route';
import { redactArgs, REDACTED, Scrubber } from '../../src/protocols/scrub';

test('command lines: curl headers, --password=, -u user:pass, ?token= in URLs, KEY=value', () => {
  assert.deepEqual(
    redactArgs(['curl', '-H', 'Authorization: Bearer abc.def.ghi', '-u', 'bob:hunter2', 'https://x.test/a?token=s3cr3t&page=2']),
    ['curl', '-H', `Authorization: ${REDACTED}`, '-u', `bob:${REDACTED}`, `https://x.test/a?token=${REDACTED}&page=2`]);
  assert.deepEqual(redactArgs(['mysql', '--password=hunter2', '--user=root', '--host', 'db']),
    ['mysql', `--password=${REDACTED}`, '--user=root', '--host', 'db']);
  assert.deepEqual(redactArgs(['app', '--api-key', 'k-123', '--verbose']), ['app', '--api-key', REDACTED, '--verbose']);
  assert.deepEqual(redactArgs(['env', 'DB_PASSWORD=hunter2', 'PATH=/bin']), ['env', `DB_PASSWORD=${REDACTED}`, 'PATH=/bin']);
  assert.deepEqual(redactArgs(['git', 'clone', 'https://bob:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x']),
    ['git', 'clone', `https://bob:${REDACTED}@github.com/x`]);
  assert.deepEqual(redactArgs(['ls', '-la', '/tmp']), ['ls', '-la', '/tmp'], 'ordinary arguments untouched');
});

test('headers, targets and bodies, and configurable rules', () => {
  const s = new Scrubber();
  assert.equal(s.header('Cookie', 'session=abc'), REDACTED);
  assert.equal(s.header('x-request-id', 'r-1'), 'r-1');
  assert.equal(s.target('/login?user=bob&password=pw&next=%2Fhome'), `/login?user=bob&password=${REDACTED}&next=%2Fhome`);
  assert.equal(s.text('{"user":"bob","password":"pw","token": "t"}'), `{"user":"bob","password":"${REDACTED}","token": "${REDACTED}"}`);
  assert.equal(s.text('AKIAABCDEFGHIJKLMNOP'), REDACTED);
  const custom = new Scrubber({ headerNames: ['x-tenant'], replacement: '***' });
  assert.equal(custom.header('X-Tenant', 'acme'), '***');
  assert.equal(custom.header('authorization', 'Basic Zm9vOmJhcg=='), '***', 'key pattern and value patterns still apply');
});

test('route templates keep series bounded', () => {
  assert.equal(routeTemplate('/users/42/orders/9f1c2e7a-1b2c-4d3e-8f90-123456789abc?x=1'), '/users/{id}/orders/{id}');
  assert.equal(routeTemplate('/files/deadbeefcafe1234/raw'), '/files/{id}/raw');
  assert.equal(routeTemplate('/s/eyJhbGciOiJIUzI1NiJ9x7Q/view'), '/s/{id}/view');
  assert.equal(routeTemplate('/api/v1/health'), '/api/v1/health');
  assert.equal(routeTemplate('/orders/order-12345'), '/orders/{id}');
  assert.equal(routeTemplate('http://proxy.test/a/7'), '/a/{id}');
  assert.equal(routeTemplate('/a/b/c/d/e/f/g/h/i/j/k/l/m/n'), '/a/b/c/d/e/f/g/h/i/j/k/l/{...}');
  assert.ok(!isIdSegment('checkout') && !isIdSegment('v2') && !isIdSegment('some-long-readable-slug'));
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(routeTemplate(`/users/${i}/items/${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}`));
  assert.equal(seen.size, 1);
});
