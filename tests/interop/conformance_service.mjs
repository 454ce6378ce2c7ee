// The ConformanceService of PROTOCOL.md §14.1 written on the npm package
// @query-farm/vgi-rpc (an implementation sluice did not write), so that
// sluice's RPC client can be proven against a foreign server. The npm
// package ships no conformance service; this one follows the method table of
// §14.1 and the Python reference's conventions (records travel as binary
// Arrow IPC, enums as dictionary<int16, utf8>, non-nullable parameters).
//
//   node conformance_service.mjs            serve on stdin/stdout
//   node conformance_service.mjs --unix P   serve on a Unix socket (prints UNIX:P)
//   node conformance_service.mjs --tcp      serve on 127.0.0.1, port 0 (prints TCP:host:port)

let vgi;
try {
  vgi = await import('@query-farm/vgi-rpc');
} catch (e) {
  throw new Error(`@query-farm/vgi-rpc is not installed in tests/interop/node_modules ` +
                  `(run 'npm ci' there; './sluice.sh test' does it): ${e.message}`);
}
// The Arrow classes of the package's own Arrow build (a fork of apache-arrow
// that @query-farm/vgi-rpc depends on): schemas and batches handed to the
// server must come from the same module.
const A = await import('@query-farm/apache-arrow');
const { Protocol, VgiRpcServer, serveUnix, serveTcp } = vgi;

const f = (name, type, nullable = false) => new A.Field(name, type, nullable);
const schema = (...fields) => new A.Schema(fields);
const utf8 = () => new A.Utf8();
const i64 = () => new A.Int64();
const f64 = () => new A.Float64();
const bin = () => new A.Binary();
const bool = () => new A.Bool();
const enumType = () => new A.Dictionary(utf8(), new A.Int16());
const listOf = (t) => new A.List(f('item', t, true));
const mapOf = (k, v) => new A.Map_(f('entries', new A.Struct([f('key', k), f('value', v, true)])), false);
const empty = schema();

const STATUS = ['PENDING', 'ACTIVE', 'CLOSED'];
const COUNTER = schema(f('index', i64()), f('value', i64()));
const HEADER_INFO = schema(f('total_expected', i64()), f('description', utf8()));
const VALUE = schema(f('value', f64()));
const RICH_HEADER = schema(
  f('str_field', utf8()), f('bytes_field', bin()), f('int_field', i64()), f('float_field', f64()),
  f('bool_field', bool()), f('list_field', listOf(i64())), f('dict_field', mapOf(utf8(), i64())),
  f('enum_field', enumType()), f('optional_str', utf8(), true), f('optional_int', i64(), true),
  f('nested_point', new A.Struct([f('x', f64()), f('y', f64())])), f('int32_field', new A.Int32()),
  f('float32_field', new A.Float32()), f('date_field', new A.DateDay()),
  f('timestamp_field', new A.TimestampMicrosecond('UTC')),
  f('duration_field', new A.DurationMicrosecond()), f('large_str_field', new A.LargeUtf8()),
  f('dict_str_field', enumType()));

class ValueError extends Error {
  constructor(m) { super(m); this.name = 'ValueError'; }
}
class RuntimeError extends Error {
  constructor(m) { super(m); this.name = 'RuntimeError'; }
}

// Python's repr of a float, for inspect_point.
const pyFloat = (x) => (Number.isInteger(x) ? `${x}.0` : String(x));
const num = (v) => (typeof v === 'bigint' ? Number(v) : v);

const int64Data = (type, v) => A.makeData({ type, length: 1, data: BigInt64Array.of(v) });

// JavaScript values of an arrow list (a Vector, recursively), so that the
// result is rebuilt from plain values: arrow-js does not re-encode a Vector
// handed back as a list element.
const plain = (v) => (v instanceof A.Vector ? [...v].map(plain) : v);

// The header of the rich-header methods (the same values as sluice's
// conformance::rich_header()).
function richHeader(n) {
  return {
    str_field: `seed-${n}`,
    bytes_field: new TextEncoder().encode(`bytes-${n}`),
    int_field: 7 * n,
    float_field: 1.5 * n,
    bool_field: n % 2 === 0,
    list_field: [n, n + 1, n + 2].map(BigInt),
    dict_field: new Map([['a', BigInt(n)], ['b', BigInt(n + 1)]]),
    enum_field: STATUS[((n % 3) + 3) % 3],
    optional_str: n % 2 === 0 ? `even-${n}` : null,
    optional_int: n % 2 === 0 ? null : 3 * n,
    nested_point: { x: n, y: 2 * n },
    int32_field: n * 11,
    float32_field: 0.5 * n,
    date_field: (19000 + n) * 86400000,
    // 64-bit microseconds built as arrow Data: arrow-js's setters take
    // timestamps as float milliseconds, which cannot hold every microsecond.
    timestamp_field: int64Data(new A.TimestampMicrosecond('UTC'), 1_700_000_000_000_000n + BigInt(n)),
    duration_field: int64Data(new A.DurationMicrosecond(), BigInt(n * 1000)),
    large_str_field: `large-${n}`,
    dict_str_field: `dict-${n % 4}`,
  };
}

const cancelProbe = { produce: 0, exchange: 0, cancel: 0 };

export function conformanceProtocol() {
  const p = new Protocol('ConformanceService', { protocolVersion: '1.0.0' });
  const echo = (name, param, type, nullable = false) =>
    p.unary(name, {
      params: schema(f(param, type, nullable)),
      result: schema(f('result', type, nullable)),
      // The values of the opaque types (map, date, decimal, ...) arrive as
      // arrow Data and go back unchanged.
      handler: (a) => ({ result: a[param] }),
    });

  // scalar
  echo('echo_string', 'value', utf8());
  echo('echo_bytes', 'data', bin());
  echo('echo_int', 'value', i64());
  echo('echo_float', 'value', f64());
  echo('echo_bool', 'value', bool());
  p.unary('oversized_unary', {
    params: schema(f('target_bytes', i64())),
    result: schema(f('result', bin())),
    handler: ({ target_bytes }) => {
      const n = num(target_bytes);
      if (n < 0) throw new ValueError(`target_bytes must be non-negative, got ${n}`);
      return { result: new Uint8Array(n) };
    },
  });
  // void
  p.unary('void_noop', { params: empty, result: empty, handler: () => ({}) });
  p.unary('void_with_param', { params: schema(f('value', i64())), result: empty, handler: () => ({}) });
  // complex
  echo('echo_enum', 'status', enumType());
  const echoList = (name, param, type) => p.unary(name, {
    params: schema(f(param, type)),
    result: schema(f('result', type)),
    handler: (a) => ({ result: plain(a[param]) }),
  });
  echoList('echo_list', 'values', listOf(utf8()));
  echo('echo_dict', 'mapping', mapOf(utf8(), i64()));
  echoList('echo_nested_list', 'matrix', listOf(listOf(i64())));
  // optional
  echo('echo_optional_string', 'value', utf8(), true);
  echo('echo_optional_int', 'value', i64(), true);
  // records: binary Arrow IPC, echoed byte for byte
  for (const [name, param] of [['echo_point', 'point'], ['echo_all_types', 'data'],
    ['echo_bounding_box', 'box'], ['echo_wide_types', 'data'], ['echo_container_wide_types', 'data'],
    ['echo_embedded_arrow', 'data'], ['echo_deep_nested', 'data']]) {
    echo(name, param, bin());
  }
  p.unary('inspect_point', {
    params: schema(f('point', bin())),
    result: schema(f('result', utf8())),
    handler: ({ point }) => {
      const t = A.tableFromIPC(point);
      if (t.numRows !== 1) throw new ValueError(`a Point is one row, got ${t.numRows}`);
      const x = num(t.getChild('x').get(0));
      const y = num(t.getChild('y').get(0));
      return { result: `Point(${pyFloat(x)}, ${pyFloat(y)})` };
    },
  });
  // annotated & wide
  for (const [name, type] of [['echo_int32', new A.Int32()], ['echo_float32', new A.Float32()],
    ['echo_int8', new A.Int8()], ['echo_int16', new A.Int16()], ['echo_uint8', new A.Uint8()],
    ['echo_uint16', new A.Uint16()], ['echo_uint32', new A.Uint32()], ['echo_uint64', new A.Uint64()],
    ['echo_date', new A.DateDay()], ['echo_timestamp', new A.TimestampMicrosecond()],
    ['echo_timestamp_utc', new A.TimestampMicrosecond('UTC')], ['echo_time', new A.TimeMicrosecond()],
    ['echo_duration', new A.DurationMicrosecond()], ['echo_decimal', new A.Decimal(4, 20, 128)],
    ['echo_large_string', new A.LargeUtf8()], ['echo_large_binary', new A.LargeBinary()],
    ['echo_fixed_binary', new A.FixedSizeBinary(8)], ['echo_dict_encoded_string', enumType()]]) {
    echo(name, 'value', type);
  }
  // multi-param and defaults
  p.unary('add_floats', {
    params: schema(f('a', f64()), f('b', f64())),
    result: schema(f('result', f64())),
    handler: ({ a, b }) => ({ result: a + b }),
  });
  p.unary('concatenate', {
    params: schema(f('prefix', utf8()), f('suffix', utf8()), f('separator', utf8())),
    result: schema(f('result', utf8())),
    defaults: { separator: '-' },
    handler: ({ prefix, suffix, separator }) => ({ result: `${prefix}${separator ?? '-'}${suffix}` }),
  });
  p.unary('with_defaults', {
    params: schema(f('required', i64()), f('optional_str', utf8()), f('optional_int', i64())),
    result: schema(f('result', utf8())),
    defaults: { optional_str: 'default', optional_int: 42 },
    handler: ({ required, optional_str, optional_int }) => ({
      result: `required=${num(required)}, optional_str=${optional_str ?? 'default'}, ` +
              `optional_int=${num(optional_int ?? 42)}`,
    }),
  });
  // errors
  const raising = (name, Cls) => p.unary(name, {
    params: schema(f('message', utf8())),
    result: schema(f('result', utf8())),
    handler: ({ message }) => { throw new Cls(message); },
  });
  raising('raise_value_error', ValueError);
  raising('raise_runtime_error', RuntimeError);
  raising('raise_type_error', TypeError);
  // logging
  const logging = (name, body) => p.unary(name, {
    params: schema(f('value', utf8())),
    result: schema(f('result', utf8())),
    handler: ({ value }, ctx) => { body(value, ctx); return { result: value }; },
  });
  logging('echo_with_info_log', (v, ctx) => ctx.clientLog('INFO', `info: ${v}`));
  logging('echo_with_multi_logs', (v, ctx) => {
    ctx.clientLog('DEBUG', `debug: ${v}`);
    ctx.clientLog('INFO', `info: ${v}`);
    ctx.clientLog('WARN', `warn: ${v}`);
  });
  logging('echo_with_log_extras', (v, ctx) =>
    ctx.clientLog('INFO', `info: ${v}`, { source: 'conformance', detail: v }));
  logging('echo_with_all_log_levels', (v, ctx) => {
    for (const level of ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']) {
      ctx.clientLog(level, `${level.toLowerCase()}: ${v}`);
    }
  });

  // producers: {index, value = index * 10}
  const counterRows = (out, from, n) => {
    const index = [];
    const value = [];
    for (let i = from; i < from + n; i++) {
      index.push(BigInt(i));
      value.push(BigInt(i * 10));
    }
    out.emit({ index, value });
  };
  const producer = (name, params, init, produce, extra = {}) =>
    p.producer(name, { params, outputSchema: COUNTER, init, produce, ...extra });
  const countdown = (state, out) => {
    if (state.i >= state.count) return out.finish();
    counterRows(out, state.i++, 1);
  };
  producer('produce_n', schema(f('count', i64())), ({ count }) => ({ i: 0, count: num(count) }), countdown);
  producer('produce_empty', empty, () => ({ i: 0, count: 0 }), countdown);
  producer('produce_single', empty, () => ({ i: 0, count: 1 }), countdown);
  producer('produce_large_batches', schema(f('rows_per_batch', i64()), f('batch_count', i64())),
    ({ rows_per_batch, batch_count }) => ({ b: 0, rows: num(rows_per_batch), batches: num(batch_count) }),
    (s, out) => {
      if (s.b >= s.batches) return out.finish();
      counterRows(out, s.b++ * s.rows, s.rows);
    });
  producer('produce_with_logs', schema(f('count', i64())), ({ count }) => ({ i: 0, count: num(count) }),
    (s, out) => {
      if (s.i >= s.count) return out.finish();
      out.clientLog('INFO', `producing batch ${s.i}`);
      counterRows(out, s.i++, 1);
    });
  producer('produce_error_mid_stream', schema(f('emit_before_error', i64())),
    ({ emit_before_error }) => ({ i: 0, n: num(emit_before_error) }),
    (s, out) => {
      if (s.i >= s.n) throw new RuntimeError(`intentional error after ${s.n} batches`);
      counterRows(out, s.i++, 1);
    });
  producer('produce_error_on_init', empty, () => { throw new RuntimeError('intentional init error'); },
    () => {});
  producer('produce_oversized_batch', schema(f('rows_per_batch', i64())),
    ({ rows_per_batch }) => ({ done: false, rows: num(rows_per_batch) }),
    (s, out) => {
      if (s.done) return out.finish();
      s.done = true;
      counterRows(out, 0, s.rows);
    });
  producer('produce_with_header', schema(f('count', i64())), ({ count }) => ({ i: 0, count: num(count) }),
    countdown, {
      headerSchema: HEADER_INFO,
      headerInit: ({ count }) => ({ total_expected: num(count), description: `producing ${num(count)} batches` }),
    });
  producer('produce_with_header_and_logs', schema(f('count', i64())),
    ({ count }) => ({ i: 0, count: num(count) }), countdown, {
      headerSchema: HEADER_INFO,
      headerInit: ({ count }, _state, ctx) => {
        ctx.clientLog('INFO', 'stream init log');
        return { total_expected: num(count), description: `producing ${num(count)} with logs` };
      },
    });
  producer('produce_with_rich_header', schema(f('seed', i64()), f('count', i64())),
    ({ count }) => ({ i: 0, count: num(count) }), countdown, {
      headerSchema: RICH_HEADER,
      headerInit: ({ seed }) => richHeader(num(seed)),
    });
  p.producer('produce_dynamic_schema', {
    params: schema(f('seed', i64()), f('count', i64()), f('include_strings', bool()), f('include_floats', bool())),
    outputSchema: schema(f('index', i64(), true)),
    init: ({ count, include_strings, include_floats }) => {
      const fields = [f('index', i64(), true)];
      if (include_strings) fields.push(f('label', utf8(), true));
      if (include_floats) fields.push(f('score', f64(), true));
      return { i: 0, count: num(count), strings: include_strings, floats: include_floats,
               __outputSchema: new A.Schema(fields) };
    },
    produce: (s, out) => {
      if (s.i >= s.count) return out.finish();
      const row = { index: BigInt(s.i) };
      if (s.strings) row.label = `row-${s.i}`;
      if (s.floats) row.score = 1.5 * s.i;
      s.i++;
      out.emitRow(row);
    },
  });

  // exchanges
  const values = (input) => {
    const col = input.getChildAt(0);
    const out = [];
    for (let i = 0; i < input.numRows; i++) out.push(num(col.get(i)));
    return out;
  };
  const exchange = (name, params, init, fn, extra = {}) =>
    p.exchange(name, { params, inputSchema: VALUE, outputSchema: VALUE, init, exchange: fn, ...extra });
  exchange('exchange_scale', schema(f('factor', f64())), ({ factor }) => ({ factor }),
    (s, input, out) => out.emit({ value: values(input).map((v) => v * s.factor) }));
  p.exchange('exchange_accumulate', {
    params: empty, inputSchema: VALUE,
    outputSchema: schema(f('running_sum', f64()), f('exchange_count', i64())),
    init: () => ({ sum: 0, count: 0 }),
    exchange: (s, input, out) => {
      for (const v of values(input)) s.sum += v;
      s.count++;
      out.emitRow({ running_sum: s.sum, exchange_count: BigInt(s.count) });
    },
  });
  exchange('exchange_with_logs', empty, () => ({}), (_s, input, out) => {
    out.clientLog('INFO', 'exchange processing');
    out.clientLog('DEBUG', 'exchange debug');
    out.emit({ value: values(input) });
  });
  exchange('exchange_error_on_nth', schema(f('fail_on', i64())), ({ fail_on }) => ({ n: 0, failOn: num(fail_on) }),
    (s, input, out) => {
      s.n++;
      if (s.n === s.failOn) throw new RuntimeError(`intentional error on exchange ${s.n}`);
      out.emit({ value: values(input) });
    });
  p.exchange('exchange_zero_columns', {
    params: empty, inputSchema: empty, outputSchema: empty,
    init: () => ({}),
    exchange: (_s, input, out) => out.emit(new A.RecordBatch(empty, A.makeData({
      type: new A.Struct([]), length: input.numRows, children: [] }))),
  });
  exchange('exchange_error_on_init', empty, () => { throw new RuntimeError('intentional init error'); },
    () => {});
  exchange('exchange_cast_compatible', empty, () => ({}),
    (_s, input, out) => out.emit({ value: values(input) }));
  p.exchange('exchange_oversized', {
    params: schema(f('rows_per_batch', i64())), inputSchema: VALUE, outputSchema: COUNTER,
    init: ({ rows_per_batch }) => ({ rows: num(rows_per_batch) }),
    exchange: (s, _input, out) => counterRows(out, 0, s.rows),
  });
  exchange('exchange_with_header', schema(f('factor', f64())), ({ factor }) => ({ factor }),
    (s, input, out) => out.emit({ value: values(input).map((v) => v * s.factor) }), {
      headerSchema: HEADER_INFO,
      headerInit: ({ factor }) => ({ total_expected: 0, description: `scale by ${pyFloat(factor)}` }),
    });
  exchange('exchange_with_rich_header', schema(f('seed', i64()), f('factor', f64())),
    ({ factor }) => ({ factor }),
    (s, input, out) => out.emit({ value: values(input).map((v) => v * s.factor) }), {
      headerSchema: RICH_HEADER,
      headerInit: ({ seed }) => richHeader(num(seed)),
    });

  // cancel
  p.producer('cancellable_producer', {
    params: empty, outputSchema: schema(f('index', i64())),
    init: () => ({ i: 0 }),
    produce: (s, out) => { cancelProbe.produce++; out.emitRow({ index: BigInt(s.i++) }); },
    onCancel: () => { cancelProbe.cancel++; },
  });
  exchange('cancellable_exchange', empty, () => ({}),
    (_s, input, out) => { cancelProbe.exchange++; out.emit({ value: values(input) }); },
    { onCancel: () => { cancelProbe.cancel++; } });
  p.unary('cancel_probe_counters', {
    params: empty, result: schema(f('result', listOf(i64()))),
    handler: () => ({ result: [cancelProbe.produce, cancelProbe.exchange, cancelProbe.cancel].map(BigInt) }),
  });
  p.unary('reset_cancel_probe', {
    params: empty, result: empty,
    handler: () => { cancelProbe.produce = cancelProbe.exchange = cancelProbe.cancel = 0; return {}; },
  });
  return p;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const protocol = conformanceProtocol();
  const args = process.argv.slice(2);
  if (args[0] === '--unix') {
    const handle = await serveUnix(protocol, { unixPath: args[1], idleTimeout: 0, protocolVersion: '1.0.0' });
    process.on('SIGTERM', () => { handle.close?.(); process.exit(0); });
  } else if (args[0] === '--tcp') {
    const handle = await serveTcp(protocol, { host: '127.0.0.1', port: 0, idleTimeout: 0, protocolVersion: '1.0.0' });
    process.on('SIGTERM', () => { handle.close?.(); process.exit(0); });
  } else {
    await new VgiRpcServer(protocol, { protocolVersion: '1.0.0' }).run();
  }
}
