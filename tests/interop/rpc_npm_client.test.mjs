// A client sluice did not write against sluice's server: the npm package
// @query-farm/vgi-rpc's client calls sluice-conformance (the ConformanceService
// of PROTOCOL.md §14.1 on sluice's rpc layer) over its stdin/stdout, a Unix
// socket and TCP: reflection, every scalar and wide type the npm client can
// write, records as binary IPC built by arrow-js, defaults, errors with their
// types, logs with extras, producers with and without headers, exchanges,
// errors mid-stream and on init, cancel, and a connection that stays usable
// after each error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';

import { tmpDir } from './lib.mjs';

const vgi = await import('@query-farm/vgi-rpc');
const A = await import('@query-farm/apache-arrow');
const { pipeConnect, tcpConnect } = vgi;

const server = process.env.SLUICE_CONFORMANCE;
if (!server || !fs.existsSync(server)) {
  throw new Error(`SLUICE_CONFORMANCE must name the sluice-conformance program (got '${server}'); run these tests through ctest`);
}

const num = (v) => (typeof v === 'bigint' ? Number(v) : v);
const rowsOf = (batches) => batches.flat();

// One record as binary Arrow IPC, written by arrow-js.
function pointIpc(x, y) {
  const schema = new A.Schema([new A.Field('x', new A.Float64(), false), new A.Field('y', new A.Float64(), false)]);
  const column = (v) => A.makeData({ type: new A.Float64(), length: 1, nullCount: 0, data: Float64Array.of(v) });
  const data = A.makeData({ type: new A.Struct(schema.fields), length: 1, nullCount: 0,
                            children: [column(x), column(y)] });
  return A.tableToIPC(new A.Table([new A.RecordBatch(schema, data)]), 'stream');
}

// Connects the npm client to a fresh sluice-conformance over TRANSPORT.
async function connect(transport, logs) {
  const onLog = (m) => logs.push(m);
  if (transport === 'stdio') {
    const proc = spawn(server, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const client = pipeConnect(Readable.toWeb(proc.stdout),
      { write: (d) => proc.stdin.write(d), end: () => proc.stdin.end() }, { onLog });
    return { client, stop: () => { client.close(); proc.stdin.end(); proc.kill('SIGTERM'); } };
  }
  const dir = tmpDir();
  const sock = path.join(dir, 'c.sock');
  const args = transport === 'unix' ? ['--unix', sock] : ['--tcp', '127.0.0.1:0'];
  const proc = spawn(server, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const { value: line } = await readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]().next();
  const stopAll = (client) => () => {
    client.close();
    proc.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  if (transport === 'unix') {
    assert.equal(line, `UNIX:${sock}`);
    const socket = net.connect({ path: sock });
    socket.on('error', () => {});
    const client = pipeConnect(socket, { write: (d) => socket.write(d), end: () => socket.end() }, { onLog });
    const stop = stopAll(client);
    return { client, stop: () => { stop(); socket.destroy(); } };
  }
  const m = /^TCP:(127\.0\.0\.1):(\d+)$/.exec(line);
  assert.ok(m, `announcement: ${line}`);
  const client = tcpConnect(m[1], Number(m[2]), { onLog });
  return { client, stop: stopAll(client) };
}

async function rejects(promise, type, message) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.errorType ?? e.name, type, `error type of ${e.message}`);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  });
}

for (const transport of ['stdio', 'unix', 'tcp']) {
  test(`npm client → sluice server over ${transport}`, async (t) => {
    const logs = [];
    const { client, stop } = await connect(transport, logs);
    const call = async (method, params) => (await client.call(method, params))?.result;
    try {
      await t.test('reflection', async () => {
        const d = await client.describe();
        assert.equal(d.protocolName, 'ConformanceService');
        const methods = (d.methods instanceof Map ? [...d.methods.values()] : Object.values(d.methods)).map((m) => m.name);
        for (const name of ['echo_string', 'produce_n', 'exchange_scale', 'produce_with_rich_header',
          'cancel_probe_counters', 'with_defaults']) {
          assert.ok(methods.includes(name), `describe lists ${name}`);
        }
      });

      await t.test('scalars and wide types', async () => {
        assert.equal(await call('echo_string', { value: 'héllo ☃' }), 'héllo ☃');
        assert.deepEqual([...await call('echo_bytes', { data: Uint8Array.of(0, 1, 255) })], [0, 1, 255]);
        assert.equal(num(await call('echo_int', { value: -(2n ** 53n) - 1n })), -(2 ** 53) - 1);
        assert.equal(BigInt(await call('echo_int', { value: -(2n ** 53n) - 1n })), -(2n ** 53n) - 1n);
        assert.equal(await call('echo_float', { value: 3.25 }), 3.25);
        assert.equal(await call('echo_bool', { value: true }), true);
        assert.equal(await call('echo_int8', { value: -128 }), -128);
        assert.equal(await call('echo_int16', { value: -32768 }), -32768);
        assert.equal(await call('echo_int32', { value: 2147483647 }), 2147483647);
        assert.equal(await call('echo_uint8', { value: 255 }), 255);
        assert.equal(await call('echo_uint16', { value: 65535 }), 65535);
        assert.equal(await call('echo_uint32', { value: 4294967295 }), 4294967295);
        assert.equal(BigInt(await call('echo_uint64', { value: 2n ** 64n - 1n })), 2n ** 64n - 1n);
        assert.equal(await call('echo_float32', { value: 1.5 }), 1.5);
        assert.equal((await client.call('oversized_unary', { target_bytes: 100000 })).result.length, 100000);
        assert.equal(await call('echo_large_string', { value: 'large ☃' }), 'large ☃');
        assert.equal(await call('echo_dict_encoded_string', { value: 'dd' }), 'dd');
        assert.equal(await call('echo_enum', { status: 'CLOSED' }), 'CLOSED');
        const d = await call('echo_date', { value: new Date(Date.UTC(2022, 0, 2)) });
        assert.equal(new Date(num(d)).toISOString().slice(0, 10), '2022-01-02');
      });

      await t.test('containers, optionals and void', async () => {
        assert.deepEqual([...await call('echo_list', { values: ['a', 'b', 'c'] })], ['a', 'b', 'c']);
        const nested = await call('echo_nested_list', { matrix: [[1n, 2n], [], [3n]] });
        assert.deepEqual([...nested].map((r) => [...r].map(num)), [[1, 2], [], [3]]);
        assert.equal(await call('echo_optional_string', { value: null }), null);
        assert.equal(await call('echo_optional_string', { value: 'x' }), 'x');
        assert.equal(await call('echo_optional_int', { value: null }), null);
        assert.equal(num(await call('echo_optional_int', { value: 7 })), 7);
        assert.equal(await client.call('void_noop', {}), null);
        assert.equal(await client.call('void_with_param', { value: 5 }), null);
      });

      await t.test('records as binary IPC written by arrow-js', async () => {
        const ipc = pointIpc(1, 2);
        assert.equal(await call('inspect_point', { point: ipc }), 'Point(1.0, 2.0)');
        assert.equal(await call('inspect_point', { point: pointIpc(0.5, -3) }), 'Point(0.5, -3.0)');
        const back = A.tableFromIPC(await call('echo_point', { point: ipc }));
        assert.equal(back.numRows, 1);
        assert.equal(back.getChild('x').get(0), 1);
        assert.equal(back.getChild('y').get(0), 2);
      });

      await t.test('multiple parameters and defaults', async () => {
        assert.equal(await call('add_floats', { a: 1.5, b: 2.25 }), 3.75);
        assert.equal(await call('concatenate', { prefix: 'a', suffix: 'b' }), 'a-b');
        assert.equal(await call('concatenate', { prefix: 'a', suffix: 'b', separator: '+' }), 'a+b');
        assert.equal(await call('with_defaults', { required: 1 }), 'required=1, optional_str=default, optional_int=42');
        assert.equal(await call('with_defaults', { required: 2, optional_str: 's', optional_int: 3 }),
          'required=2, optional_str=s, optional_int=3');
      });

      await t.test('errors keep their types, and the connection stays usable', async () => {
        await rejects(client.call('raise_value_error', { message: 'boom' }), 'ValueError', /boom/);
        await rejects(client.call('raise_runtime_error', { message: 'bang' }), 'RuntimeError', /bang/);
        await rejects(client.call('raise_type_error', { message: 't' }), 'TypeError', /t/);
        await rejects(client.call('oversized_unary', { target_bytes: -1 }), 'ValueError');
        assert.equal(await call('echo_string', { value: 'after' }), 'after');
        await assert.rejects(client.call('no_such_method', { value: 'x' }));
        assert.equal(await call('echo_string', { value: 'after unknown' }), 'after unknown');
      });

      await t.test('logs reach the client with their levels and extras', async () => {
        logs.length = 0;
        assert.equal(await call('echo_with_info_log', { value: 'v' }), 'v');
        assert.deepEqual(logs.map((l) => [l.level, l.message]), [['INFO', 'info: v']]);
        logs.length = 0;
        await call('echo_with_multi_logs', { value: 'v' });
        assert.deepEqual(logs.map((l) => l.level), ['DEBUG', 'INFO', 'WARN']);
        logs.length = 0;
        await call('echo_with_log_extras', { value: 'v' });
        assert.equal(logs.length, 1);
        assert.equal(logs[0].extra?.source, 'conformance');
        assert.equal(logs[0].extra?.detail, 'v');
        logs.length = 0;
        await call('echo_with_all_log_levels', { value: 'v' });
        assert.deepEqual(logs.map((l) => l.message), ['trace: v', 'debug: v', 'info: v', 'warn: v', 'error: v']);
      });

      await t.test('producers', async () => {
        const rows = [];
        for await (const b of await client.stream('produce_n', { count: 4 })) rows.push(...b);
        assert.deepEqual(rows.map((r) => [num(r.index), num(r.value)]), [[0, 0], [1, 10], [2, 20], [3, 30]]);
        const none = [];
        for await (const b of await client.stream('produce_empty', {})) none.push(...b);
        assert.equal(none.length, 0);
        let large = 0;
        for await (const b of await client.stream('produce_large_batches', { rows_per_batch: 1000, batch_count: 3 })) large += b.length;
        assert.equal(large, 3000);
        logs.length = 0;
        let n = 0;
        for await (const b of await client.stream('produce_with_logs', { count: 2 })) n += b.length;
        assert.equal(n, 2);
        assert.deepEqual(logs.map((l) => l.message), ['producing batch 0', 'producing batch 1']);
        const mid = await client.stream('produce_error_mid_stream', { emit_before_error: 2 });
        await rejects((async () => { for await (const b of mid) void b; })(), 'RuntimeError',
          /intentional error after 2 batches/);
        await rejects((async () => {
          for await (const b of await client.stream('produce_error_on_init', {})) void b;
        })(), 'RuntimeError', /intentional init error/);
        assert.equal(num(await call('echo_int', { value: 1 })), 1);
      });

      await t.test('producer headers', async () => {
        const s = await client.stream('produce_with_header', { count: 2 });
        let n = 0;
        for await (const b of s) n += b.length;
        assert.equal(n, 2);
        assert.equal(num(s.header.total_expected), 2);
        assert.equal(s.header.description, 'producing 2 batches');
        const rich = await client.stream('produce_with_rich_header', { seed: 4, count: 1 });
        for await (const b of rich) void b;
        const h = rich.header;
        assert.equal(h.str_field, 'seed-4');
        assert.equal(num(h.int_field), 28);
        assert.equal(h.float_field, 6);
        assert.equal(h.bool_field, true);
        assert.equal(h.optional_str, 'even-4');
        assert.equal(h.optional_int, null);
        assert.equal(h.enum_field, 'ACTIVE');
        assert.equal(h.large_str_field, 'large-4');
        assert.equal(h.dict_str_field, 'dict-0');
        assert.equal(h.int32_field, 44);
      });

      await t.test('exchanges', async () => {
        const s = await client.stream('exchange_scale', { factor: 2 });
        assert.deepEqual((await s.exchange([{ value: 1.5 }, { value: 2 }])).map((r) => r.value), [3, 4]);
        assert.deepEqual((await s.exchange([{ value: -1 }])).map((r) => r.value), [-2]);
        s.close();
        const acc = await client.stream('exchange_accumulate', {});
        await acc.exchange([{ value: 1 }, { value: 2 }]);
        const a2 = await acc.exchange([{ value: 3 }]);
        assert.equal(a2[0].running_sum, 6);
        assert.equal(num(a2[0].exchange_count), 2);
        acc.close();
        const nth = await client.stream('exchange_error_on_nth', { fail_on: 2 });
        await nth.exchange([{ value: 1 }]);
        await rejects(nth.exchange([{ value: 1 }]), 'RuntimeError', /intentional error on exchange 2/);
        const hdr = await client.stream('exchange_with_header', { factor: 2 });
        await hdr.exchange([{ value: 1 }]);
        assert.equal(hdr.header.description, 'scale by 2.0');
        hdr.close();
        assert.equal(await call('echo_string', { value: 'after streams' }), 'after streams');
      });

      await t.test('cancel runs the hooks once and leaves the connection usable', async () => {
        await client.call('reset_cancel_probe', {});
        const p = await client.stream('cancellable_producer', {});
        const it = p[Symbol.asyncIterator]();
        await it.next();
        await it.next();
        await p.cancel();
        const e = await client.stream('cancellable_exchange', {});
        await e.exchange([{ value: 1 }]);
        await e.cancel();
        const counts = [...await call('cancel_probe_counters', {})].map(num);
        assert.equal(counts[1], 1, `exchange calls in ${counts}`);
        assert.equal(counts[2], 2, `cancel hooks in ${counts}`);
        assert.ok(counts[0] >= 2, `produce calls in ${counts}`);
      });
    } finally {
      stop();
    }
  });
}
