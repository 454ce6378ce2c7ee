// sluice reads what apache-arrow (JavaScript) wrote: the sample table built
// from apache-arrow's own structures (every type, nulls), as a stream, as a
// file, in several batches, sliced, with LZ4 bodies, with dictionary deltas.
// The sluice helper compares every column with the formulas on its side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { arrow as A, runHelper, tmpDir, buildSampleBatch, sampleSchema, checkSampleBatch, COLUMN_NAMES, lz4Frame } from './lib.mjs';

const dir = tmpDir();
const file = (name) => path.join(dir, name);
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const schema = sampleSchema();
const batchA = buildSampleBatch(0, 45, { schema, metadata: new Map([['vgi_rpc.request_id', '5']]) });
const batchB = buildSampleBatch(45, 30, { schema });

test('the JavaScript-built batch holds the sample values', () => {
  assert.equal(checkSampleBatch(batchA, 0), 45 * COLUMN_NAMES.length);
});

test('stream with every type', () => {
  fs.writeFileSync(file('js.arrows'), A.tableToIPC(new A.Table([batchA]), 'stream'));
  const r = runHelper(['check', file('js.arrows'), '0']);
  assert.deepEqual([r.batches, r.rows, r.columns, r.errors], [1, 45, COLUMN_NAMES.length, 0]);
});

test('file with two batches', () => {
  fs.writeFileSync(file('js.arrow'), A.tableToIPC(new A.Table([batchA, batchB]), 'file'));
  const r = runHelper(['check', file('js.arrow'), '0']);
  assert.deepEqual([r.batches, r.rows, r.errors], [2, 75, 0]);
});

test('a slice of a JavaScript table', () => {
  const t = new A.Table([batchA, batchB]).slice(11, 60);
  fs.writeFileSync(file('js_sliced.arrows'), A.tableToIPC(t, 'stream'));
  const r = runHelper(['check', file('js_sliced.arrows'), '11']);
  assert.equal(r.rows, 49);
  assert.equal(r.errors, 0);
});

test('LZ4 frame compressed bodies', () => {
  A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, lz4Frame);
  try {
    const w = new A.RecordBatchStreamWriter({ compressionType: A.CompressionType.LZ4_FRAME });
    w.write(batchA);
    w.finish();
    fs.writeFileSync(file('js_lz4.arrows'), w.toUint8Array(true));
  } finally {
    A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, null);
  }
  const r = runHelper(['check', file('js_lz4.arrows'), '0']);
  assert.deepEqual([r.rows, r.errors], [45, 0]);
});

test('without some columns', () => {
  const exclude = ['null', 'map', 'dict_i64'];
  const b = buildSampleBatch(3, 20, { exclude });
  fs.writeFileSync(file('js_some.arrows'), A.tableToIPC(new A.Table([b]), 'stream'));
  const r = runHelper(['check', file('js_some.arrows'), '3', exclude.join(',')]);
  assert.deepEqual([r.columns, r.errors], [COLUMN_NAMES.length - 3, 0]);
});

test('dictionary deltas written by JavaScript', () => {
  // Growing the dictionary by appending chunks makes apache-arrow send deltas.
  const type = new A.Dictionary(new A.Utf8(), new A.Int32(), 0, false);
  const s = new A.Schema([new A.Field('d', type, true)]);
  const d1 = A.vectorFromArray(['alpha', 'beta'], new A.Utf8());
  const d2 = d1.concat(A.vectorFromArray(['gamma'], new A.Utf8()));
  const d3 = d2.concat(A.vectorFromArray(['delta'], new A.Utf8()));
  const batch = (dict, idx) => {
    const valid = idx.map((x) => x !== null);
    const bits = new Uint8Array(1);
    valid.forEach((v, r) => { if (v) bits[0] |= 1 << r; });
    const nulls = valid.filter((v) => !v).length;
    const data = A.makeData({ type, length: idx.length, nullCount: nulls, nullBitmap: nulls ? bits : null,
                              data: Int32Array.from(idx.map((x) => x ?? 0)), dictionary: dict });
    return new A.RecordBatch(s, A.makeData({ type: new A.Struct(s.fields), length: idx.length, nullCount: 0, children: [data] }));
  };
  const w = new A.RecordBatchStreamWriter();
  w.write(batch(d1, [0, 1, null, 1]));
  w.write(batch(d2, [2, 0, 2]));
  w.write(batch(d3, [3, null]));
  w.finish();
  fs.writeFileSync(file('js_dict.arrows'), w.toUint8Array(true));
  const r = runHelper(['check-dict', file('js_dict.arrows')]);
  assert.equal(r.batches, 3);
  assert.ok(r.dictionary_deltas >= 1, `expected deltas, got ${JSON.stringify(r)}`);
});
