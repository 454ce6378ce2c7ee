// sluice's RPC client against a server sluice did not write: the
// ConformanceService of conformance_service.mjs, running on the npm package
// @query-farm/vgi-rpc, driven by sluice_rpc_driver (every method group of
// PROTOCOL.md §14.1 that is not HTTP-only) over a pipe to a worker, a Unix
// socket and TCP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { tmpDir } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const service = path.join(here, 'conformance_service.mjs');
const driver = process.env.SLUICE_RPC_DRIVER;
if (!driver || !fs.existsSync(driver)) {
  throw new Error(`SLUICE_RPC_DRIVER must name the sluice_rpc_driver program (got '${driver}'); run these tests through ctest`);
}

// Runs the driver against TARGET; every check must pass.
function drive(target, flags = []) {
  const r = spawnSync(driver, [target, ...flags], { encoding: 'utf8', timeout: 120000 });
  const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  const checks = lines.map((l) => JSON.parse(l));
  const failed = checks.filter((c) => c.ok === false);
  assert.deepEqual(failed, [], `checks failed against ${target}:\n${r.stderr}`);
  const summary = checks[checks.length - 1];
  assert.equal(r.status, 0, `sluice_rpc_driver exited ${r.status}:\n${r.stderr}${r.stdout}`);
  assert.ok(summary.checks >= 17, `the driver ran ${summary.checks} checks`);
  return summary;
}

// Starts the npm service with ARGS and returns its announcement line.
async function startService(args) {
  const child = spawn(process.execPath, [service, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const { value, done } = await lines.next();
  assert.ok(!done, `the npm service ended before announcing itself:\n${stderr}`);
  return { line: value.trim(), stop: () => child.kill('SIGTERM') };
}

test('sluice client → npm server over a pipe to a worker', () => {
  drive(`exec:${process.execPath} ${service}`);
});

// The npm package has no shared-memory side channel (PROTOCOL.md §7.3): its
// server answers __transport_options__ with an error, and sluice's client
// must go on over the plain pipe - every check passes, large results inline.
test('sluice client offering shared memory → npm server falls back to the plain pipe', () => {
  drive(`exec:${process.execPath} ${service}`, ['--shm', String(8 << 20), '--expect-shm', 'no']);
});

// The same checks with sluice on both sides: large results and parameters
// travel through the segment.
test('sluice client offering shared memory → sluice-conformance uses the segment', () => {
  const conformance = process.env.SLUICE_CONFORMANCE;
  assert.ok(conformance && fs.existsSync(conformance), 'SLUICE_CONFORMANCE names sluice-conformance');
  drive(`exec:${conformance}`, ['--secondary', '--shm', String(8 << 20), '--expect-shm', 'yes']);
});

test('sluice client → npm server over a Unix socket', async () => {
  const dir = tmpDir();
  const sock = path.join(dir, 'conformance.sock');
  const s = await startService(['--unix', sock]);
  try {
    assert.equal(s.line, `UNIX:${sock}`);
    // The npm Unix and TCP launchers skip the protocol_version gate.
    drive(`unix:${sock}`, ['--no-version-gate']);
  } finally {
    s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sluice client → npm server over TCP (loopback, port 0)', async () => {
  const s = await startService(['--tcp']);
  try {
    const m = /^TCP:(127\.0\.0\.1):(\d+)$/.exec(s.line);
    assert.ok(m, `announcement: ${s.line}`);
    drive(`tcp:${m[1]}:${m[2]}`, ['--no-version-gate']);
  } finally {
    s.stop();
  }
});
