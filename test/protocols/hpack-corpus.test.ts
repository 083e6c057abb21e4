// The HPACK decoder against the third-party hpack-test-case corpus (../shared/data, MIT): every header list of
// every story, from every encoder folder, reproduced exactly. Extracted to a temp dir at run time; skips with a
// message where ../shared is absent.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HpackDecoder } from '../../src/protocols/hpack/decoder';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const archive = path.resolve(repoRoot, '..', 'shared', 'data', 'hpack-test-case.tar.gz');

interface Case { seqno: number; header_table_size?: number | null; wire: string; headers: Record<string, string>[] }

test('HPACK decoder reproduces every header list of the hpack-test-case corpus', (t) => {
  if (!fs.existsSync(archive)) { t.skip(`${archive} absent (../shared/data is not here): corpus test skipped`); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpack-corpus-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync('tar', ['xzf', archive, '-C', dir]);
  const root = path.join(dir, 'hpack-test-case');
  const encoders = fs.readdirSync(root).filter((d) => d !== 'raw-data' && fs.statSync(path.join(root, d)).isDirectory());
  assert.ok(encoders.length >= 10, `expected the encoder folders, found ${encoders.join(', ')}`);
  let cases = 0;
  for (const enc of encoders) {
    const stories = fs.readdirSync(path.join(root, enc)).filter((f) => /^story_\d+\.json$/.test(f)).sort();
    assert.ok(stories.length > 0, `${enc} has stories`);
    for (const story of stories) {
      const { cases: list } = JSON.parse(fs.readFileSync(path.join(root, enc, story), 'utf8')) as { cases: Case[] };
      const decoder = new HpackDecoder(65536);
      for (const c of list) {
        const got = decoder.decode(Buffer.from(c.wire, 'hex'));
        assert.equal(got.unknownFields, 0);
        // the corpus holds UTF-8 text; header octets are kept as latin1 characters, one per byte
        const want = c.headers.map((h) => { const [n, v] = Object.entries(h)[0]!; return [Buffer.from(n, 'utf8').toString('latin1'), Buffer.from(v, 'utf8').toString('latin1')]; });
        assert.deepEqual(got.headers.map((h) => [h.name, h.value]), want, `${enc}/${story} seqno ${c.seqno}`);
        cases++;
      }
      assert.ok(decoder.exact, 'table stays exact');
    }
  }
  console.log(`hpack corpus: ${cases} header blocks from ${encoders.length} encoders decoded exactly`);
  assert.ok(cases > 3384 * 5, `decoded ${cases} cases`);
});
