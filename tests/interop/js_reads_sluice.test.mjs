// apache-arrow (JavaScript) reads what sluice wrote: streams and files with
// every type, nulls, slices, several batches, 8- and 64-byte alignment, LZ4
// bodies, dictionaries with deltas, custom metadata. Values are checked
// against the sample formulas recomputed in JavaScript.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { arrow as A, runHelper, tmpDir, checkSampleBatch, COLUMN_NAMES, lz4Frame } from './lib.mjs';

const dir = tmpDir();
const written = runHelper(['write', dir]);
const bytes = (name) => fs.readFileSync(path.join(dir, name));
const read = (name) => A.tableFromIPC(bytes(name));

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('sluice wrote every sample column', () => {
  assert.equal(written.columns, COLUMN_NAMES.length);
});

test('stream with every type, nulls and metadata', () => {
  const t = read('stream.arrows');
  assert.equal(t.batches.length, 1);
  assert.equal(t.numRows, 60);
  assert.equal(checkSampleBatch(t.batches[0], 0), 60 * COLUMN_NAMES.length);
  assert.equal(t.schema.metadata.get('origin'), 'sluice');
  assert.equal(t.schema.metadata.get('unicode'), '\u00e9t\u00e9');
  assert.equal(t.batches[0].metadata.get('vgi_rpc.request_id'), '17');
  const st = t.schema.fields.find((f) => f.name === 'struct').type;
  assert.equal(st.children[1].nullable, false);
});

test('a sliced batch is written starting at zero', () => {
  const t = read('sliced.arrows');
  assert.equal(t.batches.length, 1);
  assert.equal(t.numRows, 41);
  checkSampleBatch(t.batches[0], 7);
});

test('several batches in one stream', () => {
  const t = read('multi.arrows');
  assert.deepEqual(t.batches.map((b) => b.numRows), [20, 25, 15]);
  let first = 0;
  for (const b of t.batches) {
    checkSampleBatch(b, first);
    first += b.numRows;
  }
});

test('file format with footer blocks', () => {
  const reader = A.RecordBatchReader.from(bytes('file.arrow'));
  assert.ok(reader.isFile());
  const t = new A.Table(reader);
  assert.deepEqual(t.batches.map((b) => b.numRows), [33, 27]);
  checkSampleBatch(t.batches[0], 0);
  checkSampleBatch(t.batches[1], 33);
});

test('8-byte body alignment', () => {
  const t = read('align8.arrows');
  checkSampleBatch(t.batches[0], 0);
});

test('LZ4 frame compressed bodies', () => {
  A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, lz4Frame);
  try {
    const t = read('lz4.arrows');
    checkSampleBatch(t.batches[0], 0);
  } finally {
    A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, null);
  }
});

test('dictionary deltas', () => {
  const t = read('dict_delta.arrows');
  assert.deepEqual(t.batches.map((b) => b.numRows), [4, 3, 2]);
  const rows = t.batches.map((b) => [...b.getChild('d')]);
  assert.deepEqual(rows, [['alpha', 'beta', null, 'beta'], ['gamma', 'alpha', 'gamma'], ['delta', null]]);
  // The last batch's dictionary is the first one plus both deltas.
  assert.deepEqual([...t.batches[2].getChild('d').data[0].dictionary], ['alpha', 'beta', 'gamma', 'delta']);
});

test('a zero-row batch', () => {
  const t = read('empty.arrows');
  assert.equal(t.batches.length, 1);
  assert.equal(t.numRows, 0);
  assert.equal(t.schema.fields.length, COLUMN_NAMES.length);
});
