// VGIS segments shared between sluice and apache-arrow (JavaScript) through
// /dev/shm: JavaScript reads a batch sluice placed in a segment, straight out
// of the segment file, and frees its region in the header table; JavaScript
// allocates a region in a segment sluice created, writes a batch there and
// sends a pointer batch, which sluice resolves in place (its arrays point into
// the mapping). Both with and without top-level dictionary columns (the
// region then lacks the schema message and the end-of-stream marker).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import {
  arrow as A, startHelper, shmName, VgisFile, VGIS_HEADER, checkSampleBatch, buildSampleBatch, sampleSchema,
  firstMessageLength, concatBytes, EOS, hexToBytes, bytesToHex, COLUMN_NAMES,
} from './lib.mjs';

const DICT_COLUMNS = ['dict_utf8', 'dict_i64'];
const SIZE = VGIS_HEADER + (2 << 20);

async function withHelper(args, name, body) {
  const h = startHelper(args);
  try {
    return await body(h);
  } finally {
    h.kill();
    fs.rmSync(`/dev/shm/${name}`, { force: true });
  }
}

for (const mode of ['plain', 'dict']) {
  test(`JavaScript reads a batch sluice placed in a segment (${mode})`, async () => {
    const name = shmName();
    await withHelper(['vgis-serve', name, String(SIZE), mode], name, async (h) => {
      const info = await h.readJson();
      const seg = new VgisFile(name);
      assert.equal(seg.size, SIZE);
      assert.deepEqual(seg.allocs(), [[info.offset, info.length]]);
      assert.equal(info.offset % 64, 0);

      // The pointer batch travels on the RPC byte stream: zero rows, region in metadata.
      const pointerBytes = hexToBytes(info.pointer);
      const pointer = A.tableFromIPC(pointerBytes);
      assert.equal(pointer.numRows, 0);
      const md = pointer.batches[0].metadata;
      assert.equal(md.get('vgi_rpc.shm_offset'), String(info.offset));
      assert.equal(md.get('vgi_rpc.shm_length'), String(info.length));
      assert.equal(md.get('vgi_rpc.log_level'), undefined);

      const region = seg.read(info.offset, info.length);
      let stream = region;
      if (mode === 'dict') {
        // The region holds dictionaries + batch only: add the schema message
        // from the pointer stream and an end-of-stream marker.
        assert.notDeepEqual(region.subarray(region.length - 8), EOS);
        assert.throws(() => A.tableFromIPC(region));
        stream = concatBytes(pointerBytes.subarray(0, firstMessageLength(pointerBytes)), region, EOS);
      } else {
        assert.deepEqual(region.subarray(region.length - 8), EOS);
      }
      const t = A.tableFromIPC(stream);
      assert.equal(t.numRows, info.rows);
      checkSampleBatch(t.batches[0], 0, { exclude: mode === 'plain' ? DICT_COLUMNS : [] });
      assert.equal(t.batches[0].metadata.get('vgi_rpc.request_id'), '17');

      // The reader frees the region.
      seg.free(info.offset);
      seg.close();
      h.send('done');
      const end = await h.finish();
      assert.equal(end.code, 0, end.stderr);
      assert.equal(end.last.freed, true);
    });
  });

  test(`sluice resolves in place a batch JavaScript placed in a segment (${mode})`, async () => {
    const name = shmName();
    await withHelper(['vgis-host', name, String(SIZE)], name, async (h) => {
      const info = await h.readJson();
      assert.equal(info.name, name);
      const seg = new VgisFile(name);
      assert.deepEqual(seg.allocs(), []);
      // Something else already lives in the segment: first fit goes after it.
      const other = seg.allocate(1000);
      assert.equal(other, VGIS_HEADER);

      const exclude = mode === 'plain' ? DICT_COLUMNS : [];
      const schema = sampleSchema({ exclude });
      const batch = buildSampleBatch(0, 50, { schema, metadata: new Map([['vgi_rpc.method', 'echo']]) });
      let region = A.tableToIPC(new A.Table([batch]), 'stream');
      if (mode === 'dict') {
        assert.deepEqual(region.subarray(region.length - 8), EOS);
        region = region.subarray(firstMessageLength(region), region.length - 8);
      }
      seg.free(other);
      const offset = seg.allocate(region.length);
      assert.equal(offset, VGIS_HEADER);
      seg.write(offset, region);

      const pointer = buildSampleBatch(0, 0, {
        schema,
        metadata: new Map([['vgi_rpc.shm_offset', String(offset)], ['vgi_rpc.shm_length', String(region.length)]]),
      });
      h.send(`${exclude.join(',')};${bytesToHex(A.tableToIPC(new A.Table([pointer]), 'stream'))}`);
      const end = await h.finish();
      assert.equal(end.code, 0, `${end.stderr}\n${JSON.stringify(end.last)}`);
      assert.equal(end.last.rows, 50);
      assert.equal(end.last.columns, COLUMN_NAMES.length - exclude.length);
      assert.equal(end.last.errors, 0);
      assert.equal(end.last.in_place, true);
      assert.ok(end.last.aliased_buffers > 40, `only ${end.last.aliased_buffers} buffers read in place`);
      assert.equal(end.last.allocs_left, 0);
      assert.deepEqual(seg.allocs(), []);  // sluice freed the region in the shared table
      seg.close();
    });
  });
}
