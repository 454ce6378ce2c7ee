// Shared pieces of the JavaScript interop tests: the sluice helper program,
// the sample formulas (recomputed here independently of sluice, from the table
// in include/sluice/arrow/sample.hpp), builders that lay the same data out in
// apache-arrow's own structures, an LZ4 frame codec for compressed bodies, and
// the VGIS segment header and allocator.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

let loaded;
try {
  loaded = await import('apache-arrow');
} catch (e) {
  throw new Error(`apache-arrow is not installed in tests/interop/node_modules ` +
                  `(run 'npm ci' there; './sluice.sh test' does it): ${e.message}`);
}
export const arrow = loaded;
const A = arrow;

export const helper = process.env.SLUICE_INTEROP_HELPER;
if (!helper || !fs.existsSync(helper)) {
  throw new Error(`SLUICE_INTEROP_HELPER must name the sluice_interop program (got '${helper}'); run these tests through ctest`);
}

// Runs the helper to completion; returns its last stdout line as JSON.
export function runHelper(args) {
  const r = spawnSync(helper, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `sluice_interop ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

// A helper that talks line by line over stdin/stdout.
export function startHelper(args) {
  const child = spawn(helper, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    async readJson() {
      const { value, done } = await lines.next();
      assert.ok(!done, `sluice_interop ${args.join(' ')} ended early:\n${stderr}`);
      return JSON.parse(value);
    },
    send(line) { child.stdin.write(line + '\n'); },
    async finish() {
      child.stdin.end();
      const rest = [];
      for (;;) {
        const { value, done } = await lines.next();
        if (done) break;
        rest.push(value);
      }
      const code = await exited;
      return { code, stderr, last: rest.length ? JSON.parse(rest[rest.length - 1]) : null };
    },
    kill() { child.kill('SIGKILL'); },
  };
}

export function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-interop-'));
}

let nameCounter = 0;
// Names under the test prefix, so tests/check_shm_clean.sh sees leftovers.
export function shmName() {
  return `sluice-t${process.pid}-interop-${++nameCounter}`;
}

// ---------------------------------------------------------------------------
// The sample table, row by row (see include/sluice/arrow/sample.hpp).
// ---------------------------------------------------------------------------

const MASK64 = (1n << 64n) - 1n;
export const isNullRow = (i) => i % 5 === 4;
const enc = new TextEncoder();
const utf8Of = (i) => (`v${i}\u00e9`).repeat(i % 4);
const binaryOf = (i) => Array.from({ length: i % 5 }, (_, j) => (i + j) % 256);
const largeBinaryOf = (i) => Array.from({ length: i % 3 }, (_, j) => (i * 7 + j) % 256);
const fsbOf = (i) => [i % 256, (i + 1) % 256, (i * 2) % 256, 255 - (i % 256)];
// Child values before row `first` (so row r has the same child index k in
// every batch layout).
function childrenBefore(first, modulus) {
  let k = 0;
  for (let i = 0; i < first; ++i) if (!isNullRow(i)) k += i % modulus;
  return k;
}

// Each column: name, nullable, the apache-arrow type, the expected value of
// row i in the normalized form `norm` produces, and the storage to build it.
export const COLUMNS = [
  { name: 'null', type: () => new A.Null(), expect: () => null, norm: (v) => v },
  { name: 'bool', type: () => new A.Bool(), expect: (i) => i % 3 !== 0, norm: (v) => v },
  { name: 'int8', type: () => new A.Int8(), expect: (i) => ((i * 37) % 200) - 100, norm: (v) => v },
  { name: 'int16', type: () => new A.Int16(), expect: (i) => ((i * 1237) % 60000) - 30000, norm: (v) => v },
  { name: 'int32', type: () => new A.Int32(), expect: (i) => ((i * 7919) % 2000000000) - 1000000000, norm: (v) => v },
  { name: 'int64', type: () => new A.Int64(), expect: (i) => BigInt(i) * 1000000000039n - (1n << 62n), norm: (v) => v },
  { name: 'uint8', type: () => new A.Uint8(), expect: (i) => (i * 13) % 256, norm: (v) => v },
  { name: 'uint16', type: () => new A.Uint16(), expect: (i) => (i * 2531) % 65536, norm: (v) => v },
  { name: 'uint32', type: () => new A.Uint32(), expect: (i) => Number((BigInt(i) * 2654435761n) % 4294967296n), norm: (v) => v },
  { name: 'uint64', type: () => new A.Uint64(), expect: (i) => (BigInt(i) * 11400714819323198485n) & MASK64, norm: (v) => v },
  { name: 'float16', type: () => new A.Float16(), expect: (i) => (i % 64) * 0.5 - 8, norm: (v) => v },
  { name: 'float32', type: () => new A.Float32(), expect: (i) => i * 0.25 - 10, norm: (v) => v },
  { name: 'float64', type: () => new A.Float64(), expect: (i) => i * 0.1, norm: (v) => v },
  { name: 'utf8', type: () => new A.Utf8(), expect: utf8Of, norm: (v) => v },
  { name: 'large_utf8', type: () => new A.LargeUtf8(), expect: (i) => `L${i}`, norm: (v) => v },
  { name: 'binary', type: () => new A.Binary(), expect: binaryOf, norm: (v) => Array.from(v) },
  { name: 'large_binary', type: () => new A.LargeBinary(), expect: largeBinaryOf, norm: (v) => Array.from(v) },
  { name: 'fixed_size_binary', type: () => new A.FixedSizeBinary(4), expect: fsbOf, norm: (v) => Array.from(v) },
  { name: 'decimal128', type: () => new A.Decimal(3, 20, 128), expect: (i) => BigInt(i * 1000003 - 500000), norm: decimalOf },
  { name: 'date32', type: () => new A.DateDay(), expect: (i) => (i * 37 - 10000) * 86400000, norm: (v) => v },
  { name: 'date64', type: () => new A.DateMillisecond(), expect: (i) => (i * 37 - 10000) * 86400000, norm: (v) => v },
  { name: 'time32_s', type: () => new A.TimeSecond(), expect: (i) => (i * 3727) % 86400, norm: (v) => v },
  { name: 'time32_ms', type: () => new A.TimeMillisecond(), expect: (i) => (i * 3727001) % 86400000, norm: (v) => v },
  { name: 'time64_us', type: () => new A.TimeMicrosecond(), expect: (i) => (BigInt(i) * 3727000123n) % 86400000000n, norm: (v) => v },
  { name: 'time64_ns', type: () => new A.TimeNanosecond(), expect: (i) => (BigInt(i) * 3727000123457n) % 86400000000000n, norm: (v) => v },
  { name: 'ts_s_tz', type: () => new A.TimestampSecond('+07:30'), expect: (i) => 1700000000n + BigInt(i) * 3601n, raw: true },
  { name: 'ts_ms_tz', type: () => new A.TimestampMillisecond('America/New_York'), expect: (i) => 1700000000000n + BigInt(i) * 3600001n, raw: true },
  { name: 'ts_us_utc', type: () => new A.TimestampMicrosecond('UTC'), expect: (i) => 1700000000000000n + BigInt(i) * 1000001n, raw: true },
  { name: 'ts_ns', type: () => new A.TimestampNanosecond(), expect: (i) => 1700000000000000000n + BigInt(i) * 999999937n, raw: true },
  { name: 'dur_s', type: () => new A.DurationSecond(), expect: (i) => BigInt(i * 1000 - 7), norm: (v) => v },
  { name: 'dur_ms', type: () => new A.DurationMillisecond(), expect: (i) => BigInt(i * 1000003 - 11), norm: (v) => v },
  { name: 'dur_us', type: () => new A.DurationMicrosecond(), expect: (i) => BigInt(i) * 1000000007n - 13n, norm: (v) => v },
  { name: 'dur_ns', type: () => new A.DurationNanosecond(), expect: (i) => BigInt(i) * 1000000000039n - 17n, norm: (v) => v },
  { name: 'interval_ym', type: () => new A.IntervalYearMonth(), expect: (i) => i - 50, raw: true },
  { name: 'interval_dt', type: () => new A.IntervalDayTime(), expect: (i) => [i, i * 1000 - 500], norm: (v) => Array.from(v) },
  {
    name: 'interval_mdn', type: () => new A.IntervalMonthDayNano(),
    expect: (i) => [i % 13, (-i) | 0, BigInt(i) * 1000000007n],
    norm: (v) => [v[0], v[1], BigInt.asIntN(64, BigInt(v[2] >>> 0) | (BigInt(v[3] >>> 0) << 32n))],
  },
  {
    name: 'list_i32', type: () => new A.List(new A.Field('item', new A.Int32(), true)),
    expect: (i, k0) => Array.from({ length: i % 4 }, (_, j) => { const k = k0 + j; return k % 6 === 5 ? null : k * 2 - 1; }),
    children: 4, norm: (v) => Array.from(v),
  },
  {
    name: 'large_list_utf8', type: () => new A.LargeList(new A.Field('item', new A.Utf8(), true)),
    expect: (i, k0) => Array.from({ length: i % 3 }, (_, j) => `e${k0 + j}`), children: 3, norm: (v) => Array.from(v),
  },
  {
    name: 'fsl_f64', type: () => new A.FixedSizeList(3, new A.Field('item', new A.Float64(), true)),
    expect: (i) => [0, 1, 2].map((j) => (i * 3 + j) * 0.5), norm: (v) => Array.from(v),
  },
  {
    name: 'struct', type: structType, nullable: true,
    expect: (i) => ({ a: i % 3 === 1 ? null : i * 11, b: `b${i}`, c: i % 7 === 6 ? null : { d: i % 2 === 0 } }),
    norm: (v) => ({ a: v.a, b: v.b, c: v.c === null ? null : { d: v.c.d } }),
  },
  {
    name: 'map', type: mapType,
    expect: (i, k0) => Array.from({ length: i % 3 }, (_, j) => { const k = k0 + j; return [`k${k}`, k % 4 === 3 ? null : BigInt(k * 100)]; }),
    children: 3, norm: (v) => [...v].map(([k, x]) => [k, x]),
  },
  {
    name: 'dict_utf8', type: () => new A.Dictionary(new A.Utf8(), new A.Int32(), null, false),
    expect: (i) => ['alpha', 'beta', 'gamma', 'delta', 'epsilon'][i % 5], norm: (v) => v,
  },
  {
    name: 'dict_i64', type: () => new A.Dictionary(new A.Int64(), new A.Int8(), null, false),
    expect: (i) => [10n, 20n, 30n, 40n][(i * 3) % 4], norm: (v) => v,
  },
];
export const COLUMN_NAMES = COLUMNS.map((c) => c.name);

function structType() {
  return new A.Struct([
    new A.Field('a', new A.Int32(), true),
    new A.Field('b', new A.Utf8(), false),
    new A.Field('c', new A.Struct([new A.Field('d', new A.Bool(), true)]), true),
  ]);
}

function mapType() {
  const entries = new A.Struct([new A.Field('key', new A.Utf8(), false), new A.Field('value', new A.Int64(), true)]);
  return new A.Map_(new A.Field('entries', entries, false), false);
}

// decimal128 storage: four little-endian 32-bit words, two's complement.
function decimalOf(v) {
  let x = 0n;
  for (let w = 3; w >= 0; --w) x = (x << 32n) | BigInt(v[w] >>> 0);
  return BigInt.asIntN(128, x);
}

// Raw storage of row `i` of a fixed-width column (one chunk per batch).
function rawOf(vector, i) {
  let idx = i;
  for (const d of vector.data) {
    if (idx < d.length) return d.values[idx * (d.stride || 1)];
    idx -= d.length;
  }
  throw new Error(`row ${i} out of range`);
}

// Checks every column of `batch` (an apache-arrow RecordBatch) against the
// formulas for rows first.. first + numRows; returns the number of values
// checked.
export function checkSampleBatch(batch, first, { exclude = [] } = {}) {
  const expected = COLUMNS.filter((c) => !exclude.includes(c.name));
  assert.deepEqual(batch.schema.fields.map((f) => f.name), expected.map((c) => c.name));
  let checked = 0;
  for (const col of expected) {
    const field = batch.schema.fields.find((f) => f.name === col.name);
    const vec = batch.getChild(col.name);
    assert.equal(vec.length, batch.numRows);
    assert.equal(String(field.type), String(col.type()), `type of column ${col.name}`);
    let k = col.children ? childrenBefore(first, col.children) : 0;
    for (let r = 0; r < batch.numRows; ++r) {
      const i = first + r;
      const nullRow = col.name === 'null' || isNullRow(i);
      const want = nullRow ? null : col.expect(i, k);
      if (!nullRow && col.children) k += i % col.children;
      let got;
      if (!vec.isValid(r)) got = null;
      else got = col.raw ? rawOf(vec, r) : col.norm(vec.get(r));
      assert.deepEqual(got, want, `column ${col.name}, row ${i}`);
      ++checked;
    }
  }
  return checked;
}

// ---------------------------------------------------------------------------
// The sample table built from apache-arrow's own structures (makeData with
// hand-made bitmaps, offsets and values).
// ---------------------------------------------------------------------------

function bitmap(n, valid) {
  const bits = new Uint8Array(Math.ceil(n / 8) || 1);
  let nulls = 0;
  for (let r = 0; r < n; ++r) {
    if (valid(r)) bits[r >> 3] |= 1 << (r & 7);
    else ++nulls;
  }
  return { bits, nulls };
}

function halfBits(x) {
  // Exact for the sample's values: multiples of 0.5 in [-8, 24).
  if (x === 0) return 0;
  const sign = x < 0 ? 0x8000 : 0;
  let a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  const mant = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | mant;
}

function fixedData(type, n, first, nullable, put, TypedArray, per = 1) {
  const values = new TypedArray(n * per);
  const { bits, nulls } = bitmap(n, (r) => !nullable || !isNullRow(first + r));
  for (let r = 0; r < n; ++r) if (!isNullRow(first + r) || !nullable) put(values, r, first + r);
  return A.makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, data: values });
}

function varData(type, n, bytesOf, { large = false, valid = () => true } = {}) {
  const Offsets = large ? BigInt64Array : Int32Array;
  const offsets = new Offsets(n + 1);
  const parts = [];
  let pos = 0;
  for (let r = 0; r < n; ++r) {
    if (valid(r)) {
      const b = bytesOf(r);
      parts.push(b);
      pos += b.length;
    }
    offsets[r + 1] = large ? BigInt(pos) : pos;
  }
  const data = new Uint8Array(pos);
  let at = 0;
  for (const p of parts) { data.set(p, at); at += p.length; }
  const { bits, nulls } = bitmap(n, valid);
  return A.makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, valueOffsets: offsets, data });
}

// One dictionary object per column, shared by every batch: apache-arrow's
// writer treats a different object as a replacement.
const dictionaries = new Map();
function sampleDictionary(name) {
  if (!dictionaries.has(name)) {
    dictionaries.set(name, name === 'dict_utf8'
      ? A.vectorFromArray(['alpha', 'beta', 'gamma', 'delta', 'epsilon'], new A.Utf8())
      : A.vectorFromArray([10n, 20n, 30n, 40n], new A.Int64()));
  }
  return dictionaries.get(name);
}

function buildColumn(col, t, first, n) {
  const ok = (r) => !isNullRow(first + r);
  switch (col.name) {
    case 'null': return A.makeData({ type: t, length: n });
    case 'bool': {
      const { bits: values } = bitmap(n, (r) => ok(r) && (first + r) % 3 !== 0);
      const { bits, nulls } = bitmap(n, ok);
      return A.makeData({ type: t, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, data: values });
    }
    case 'int8': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Int8Array);
    case 'int16': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Int16Array);
    case 'int32': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Int32Array);
    case 'int64': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, BigInt64Array);
    case 'uint8': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Uint8Array);
    case 'uint16': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Uint16Array);
    case 'uint32': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Uint32Array);
    case 'uint64': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, BigUint64Array);
    case 'float16': return fixedData(t, n, first, true, (v, r, i) => { v[r] = halfBits(col.expect(i)); }, Uint16Array);
    case 'float32': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Float32Array);
    case 'float64': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Float64Array);
    case 'utf8': return varData(t, n, (r) => enc.encode(utf8Of(first + r)), { valid: ok });
    case 'large_utf8': return varData(t, n, (r) => enc.encode(`L${first + r}`), { large: true, valid: ok });
    case 'binary': return varData(t, n, (r) => Uint8Array.from(binaryOf(first + r)), { valid: ok });
    case 'large_binary': return varData(t, n, (r) => Uint8Array.from(largeBinaryOf(first + r)), { large: true, valid: ok });
    case 'fixed_size_binary': return fixedData(t, n, first, true, (v, r, i) => { v.set(fsbOf(i), r * 4); }, Uint8Array, 4);
    case 'decimal128': return fixedData(t, n, first, true, (v, r, i) => {
      const x = BigInt.asUintN(128, col.expect(i));
      for (let w = 0; w < 4; ++w) v[r * 4 + w] = Number((x >> BigInt(32 * w)) & 0xffffffffn);
    }, Uint32Array, 4);
    case 'date32': return fixedData(t, n, first, true, (v, r, i) => { v[r] = i * 37 - 10000; }, Int32Array);
    case 'date64': return fixedData(t, n, first, true, (v, r, i) => { v[r] = BigInt(col.expect(i)); }, BigInt64Array);
    case 'time32_s':
    case 'time32_ms': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Int32Array);
    case 'time64_us':
    case 'time64_ns':
    case 'ts_s_tz':
    case 'ts_ms_tz':
    case 'ts_us_utc':
    case 'ts_ns':
    case 'dur_s':
    case 'dur_ms':
    case 'dur_us':
    case 'dur_ns': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, BigInt64Array);
    case 'interval_ym': return fixedData(t, n, first, true, (v, r, i) => { v[r] = col.expect(i); }, Int32Array);
    case 'interval_dt': return fixedData(t, n, first, true, (v, r, i) => { v.set(col.expect(i), r * 2); }, Int32Array, 2);
    case 'interval_mdn': return fixedData(t, n, first, true, (v, r, i) => {
      const [m, d, ns] = col.expect(i);
      const u = BigInt.asUintN(64, ns);
      v.set([m, d, Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0], r * 4);
    }, Int32Array, 4);
    case 'list_i32':
    case 'large_list_utf8':
    case 'map': {
      const large = col.name === 'large_list_utf8';
      const k0 = childrenBefore(first, col.children);
      const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
      let total = 0;
      for (let r = 0; r < n; ++r) {
        if (ok(r)) total += (first + r) % col.children;
        offsets[r + 1] = large ? BigInt(total) : total;
      }
      const { bits, nulls } = bitmap(n, ok);
      let child;
      if (col.name === 'list_i32') {
        child = fixedData(new A.Int32(), total, 0, false, (v, j) => { v[j] = (k0 + j) * 2 - 1; }, Int32Array);
        const { bits: cb, nulls: cn } = bitmap(total, (j) => (k0 + j) % 6 !== 5);
        child = A.makeData({ type: new A.Int32(), length: total, nullCount: cn, nullBitmap: cn ? cb : null, data: child.values });
      } else if (large) {
        child = varData(new A.Utf8(), total, (j) => enc.encode(`e${k0 + j}`));
      } else {
        const keys = varData(new A.Utf8(), total, (j) => enc.encode(`k${k0 + j}`));
        const vals = new BigInt64Array(total);
        for (let j = 0; j < total; ++j) vals[j] = BigInt((k0 + j) * 100);
        const { bits: vb, nulls: vn } = bitmap(total, (j) => (k0 + j) % 4 !== 3);
        const items = A.makeData({ type: new A.Int64(), length: total, nullCount: vn, nullBitmap: vn ? vb : null, data: vals });
        child = A.makeData({ type: t.children[0].type, length: total, nullCount: 0, children: [keys, items] });
      }
      return A.makeData({ type: t, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, valueOffsets: offsets, child });
    }
    case 'fsl_f64': {
      const values = new Float64Array(n * 3);
      for (let r = 0; r < n; ++r) for (let j = 0; j < 3; ++j) values[r * 3 + j] = ((first + r) * 3 + j) * 0.5;
      const child = A.makeData({ type: new A.Float64(), length: n * 3, nullCount: 0, data: values });
      const { bits, nulls } = bitmap(n, ok);
      return A.makeData({ type: t, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, child });
    }
    case 'struct': {
      const a = fixedData(new A.Int32(), n, 0, false, (v, r) => { v[r] = (first + r) % 3 === 1 ? 0 : (first + r) * 11; }, Int32Array);
      const { bits: ab, nulls: an } = bitmap(n, (r) => (first + r) % 3 !== 1);
      const aData = A.makeData({ type: new A.Int32(), length: n, nullCount: an, nullBitmap: an ? ab : null, data: a.values });
      const bData = varData(new A.Utf8(), n, (r) => enc.encode(`b${first + r}`));
      const { bits: dv } = bitmap(n, (r) => (first + r) % 2 === 0);
      const dData = A.makeData({ type: new A.Bool(), length: n, nullCount: 0, data: dv });
      const { bits: cb, nulls: cn } = bitmap(n, (r) => (first + r) % 7 !== 6);
      const cData = A.makeData({ type: t.children[2].type, length: n, nullCount: cn, nullBitmap: cn ? cb : null, children: [dData] });
      const { bits, nulls } = bitmap(n, ok);
      return A.makeData({ type: t, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, children: [aData, bData, cData] });
    }
    case 'dict_utf8':
    case 'dict_i64': {
      const dict = sampleDictionary(col.name);
      const Indices = col.name === 'dict_utf8' ? Int32Array : Int8Array;
      const idx = new Indices(n);
      for (let r = 0; r < n; ++r) if (ok(r)) idx[r] = col.name === 'dict_utf8' ? (first + r) % 5 : ((first + r) * 3) % 4;
      const { bits, nulls } = bitmap(n, ok);
      return A.makeData({ type: t, length: n, nullCount: nulls, nullBitmap: nulls ? bits : null, data: idx, dictionary: dict });
    }
    default: throw new Error(`no builder for ${col.name}`);
  }
}

// The sample schema as apache-arrow types. Batches of one stream must share
// the schema object. Dictionary ids are numbered from 0 in field order, as
// every Arrow writer assigns them - and as a reader that was given only the
// schema (the vgi-rpc region layout) expects.
export function sampleSchema({ exclude = [] } = {}) {
  const cols = COLUMNS.filter((c) => !exclude.includes(c.name));
  let nextId = 0;
  return new A.Schema(cols.map((c) => {
    let t = c.type();
    if (A.DataType.isDictionary(t)) t = new A.Dictionary(t.dictionary, t.indices, nextId++, t.isOrdered);
    return new A.Field(c.name, t, c.nullable ?? true);
  }));
}

// An apache-arrow RecordBatch of rows first.. first + n of the sample table.
export function buildSampleBatch(first, n, { exclude = [], metadata = new Map(), schema = sampleSchema({ exclude }) } = {}) {
  const children = schema.fields.map((f) => buildColumn(COLUMNS.find((c) => c.name === f.name), f.type, first, n));
  const data = A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children });
  return new A.RecordBatch(schema, data, metadata);
}

// ---------------------------------------------------------------------------
// LZ4 frame format (enough for Arrow IPC bodies): full block decoding, and an
// encoder that stores blocks uncompressed (a valid frame any LZ4 reads).
// ---------------------------------------------------------------------------

function xxh32(bytes, seed = 0) {
  const P1 = 2654435761, P2 = 2246822519, P3 = 3266489917, P4 = 668265263, P5 = 374761393;
  const rotl = (x, r) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h;
  let i = 0;
  const n = bytes.length;
  const u32 = (p) => (bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24)) >>> 0;
  if (n >= 16) {
    let v = [(seed + P1 + P2) >>> 0, (seed + P2) >>> 0, seed >>> 0, (seed - P1) >>> 0];
    for (; i + 16 <= n; i += 16) {
      v = v.map((acc, lane) => Math.imul(rotl((acc + Math.imul(u32(i + lane * 4), P2)) >>> 0, 13), P1) >>> 0);
    }
    h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + n) >>> 0;
  for (; i + 4 <= n; i += 4) h = Math.imul(rotl((h + Math.imul(u32(i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < n; ++i) h = Math.imul(rotl((h + Math.imul(bytes[i], P5)) >>> 0, 11), P1) >>> 0;
  h ^= h >>> 15; h = Math.imul(h, P2) >>> 0;
  h ^= h >>> 13; h = Math.imul(h, P3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

export const lz4Frame = {
  encode(data) {
    const flg = 0x60, bd = 0x70;  // version 1, independent blocks, no checksums; 4 MiB blocks
    const hc = (xxh32(Uint8Array.of(flg, bd)) >>> 8) & 0xff;
    const block = 4 << 20;
    const nblocks = Math.ceil(data.length / block);
    const out = new Uint8Array(7 + nblocks * 4 + data.length + 4);
    out.set([0x04, 0x22, 0x4d, 0x18, flg, bd, hc]);
    const dv = new DataView(out.buffer);
    let p = 7;
    for (let at = 0; at < data.length; at += block) {
      const chunk = data.subarray(at, Math.min(at + block, data.length));
      dv.setUint32(p, (chunk.length | 0x80000000) >>> 0, true);
      out.set(chunk, p + 4);
      p += 4 + chunk.length;
    }
    dv.setUint32(p, 0, true);
    return out;
  },
  decode(src) {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    assert.equal(dv.getUint32(0, true), 0x184d2204, 'lz4 frame magic');
    const flg = src[4];
    let p = 6 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0) + 1;
    let out = new Uint8Array(1 << 16);
    let n = 0;
    const ensure = (extra) => {
      if (n + extra <= out.length) return;
      let cap = out.length;
      while (cap < n + extra) cap *= 2;
      const bigger = new Uint8Array(cap);
      bigger.set(out.subarray(0, n));
      out = bigger;
    };
    for (;;) {
      const size = dv.getUint32(p, true);
      p += 4;
      if (size === 0) break;
      const len = size & 0x7fffffff;
      if (size & 0x80000000) {
        ensure(len);
        out.set(src.subarray(p, p + len), n);
        n += len;
      } else {
        const end = p + len;
        let q = p;
        while (q < end) {
          const token = src[q++];
          let lit = token >> 4;
          if (lit === 15) { let b; do { b = src[q++]; lit += b; } while (b === 255); }
          ensure(lit);
          out.set(src.subarray(q, q + lit), n);
          n += lit;
          q += lit;
          if (q >= end) break;
          const offset = src[q] | (src[q + 1] << 8);
          q += 2;
          let mlen = (token & 15) + 4;
          if ((token & 15) === 15) { let b; do { b = src[q++]; mlen += b; } while (b === 255); }
          ensure(mlen);
          for (let j = 0; j < mlen; ++j, ++n) out[n] = out[n - offset];
        }
      }
      p += len + ((flg & 0x10) ? 4 : 0);
    }
    return out.slice(0, n);
  },
};

// ---------------------------------------------------------------------------
// VGIS segments through /dev/shm (the vgi-rpc header and first-fit allocator).
// ---------------------------------------------------------------------------

export const VGIS_HEADER = 65536;
const MAX_ALLOCS = 4094;

export class VgisFile {
  constructor(name) {
    this.path = `/dev/shm/${name.replace(/^\//, '')}`;
    this.fd = fs.openSync(this.path, 'r+');
    this.size = fs.fstatSync(this.fd).size;
    const h = this.read(0, 24);
    const dv = new DataView(h.buffer, h.byteOffset, 24);
    assert.equal(new TextDecoder().decode(h.subarray(0, 4)), 'VGIS');
    assert.equal(dv.getUint32(4, true), 1);
    assert.equal(dv.getBigUint64(8, true), BigInt(this.size - VGIS_HEADER));
  }
  close() { fs.closeSync(this.fd); }
  read(offset, length) {
    const b = Buffer.alloc(length);
    assert.equal(fs.readSync(this.fd, b, 0, length, offset), length);
    return new Uint8Array(b.buffer, b.byteOffset, length);
  }
  write(offset, bytes) { assert.equal(fs.writeSync(this.fd, bytes, 0, bytes.length, offset), bytes.length); }
  allocs() {
    const h = this.read(16, 4);
    const n = Math.min(new DataView(h.buffer, h.byteOffset, 4).getUint32(0, true), MAX_ALLOCS);
    const t = this.read(24, n * 16);
    const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
    const out = [];
    for (let i = 0; i < n; ++i) out.push([Number(dv.getBigUint64(i * 16, true)), Number(dv.getBigUint64(i * 16 + 8, true))]);
    return out.sort((a, b) => a[0] - b[0]);
  }
  writeAllocs(list) {
    const b = new Uint8Array(4 + 4 + list.length * 16);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, list.length, true);
    list.forEach(([o, l], i) => { dv.setBigUint64(8 + i * 16, BigInt(o), true); dv.setBigUint64(16 + i * 16, BigInt(l), true); });
    this.write(24, b.subarray(8));
    this.write(16, b.subarray(0, 4));
  }
  allocate(size) {
    const list = this.allocs();
    let prev = VGIS_HEADER;
    for (let i = 0; i < list.length; ++i) {
      const [o, l] = list[i];
      if (o < prev) { prev = Math.max(prev, o + l); continue; }
      if (o - prev >= size) { list.splice(i, 0, [prev, size]); this.writeAllocs(list); return prev; }
      prev = o + l;
    }
    assert.ok(this.size - prev >= size, 'segment full');
    list.push([prev, size]);
    this.writeAllocs(list);
    return prev;
  }
  free(offset) {
    const list = this.allocs();
    const i = list.findIndex(([o]) => o === offset);
    assert.ok(i >= 0, `no allocation at ${offset}`);
    list.splice(i, 1);
    this.writeAllocs(list);
  }
}

// Length of the first IPC message of a stream (prefix + metadata + body).
export function firstMessageLength(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(dv.getUint32(0, true), 0xffffffff);
  const metaLen = dv.getInt32(4, true);
  // The schema message has no body.
  return 8 + metaLen;
}

export const EOS = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export const hexToBytes = (hex) => Uint8Array.from(hex.match(/../g).map((h) => parseInt(h, 16)));
export const bytesToHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
