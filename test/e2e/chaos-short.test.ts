/**
 * The short version of `npm run chaos` (issue 11, "operating a cluster"): the same harness
 * (bench/src/chaos.ts --short), run as its own process as an operator would run it: a
 * nats-server, a PostgreSQL database of its own, 2 cloud nodes (RELAY_MODE=nats), 2 relays, a lab
 * slapd and 2 agent processes, with small numbers (16 users, 2 workers, 2 s per scenario, NATS
 * down 3 s, 500 flood sockets). Under that load every fault runs once (kill -9 of an agent, a
 * relay, a cloud node; NATS down; PostgreSQL connections terminated; a relay paused; a connection
 * flood): no caller may be told a success that did not happen, no key may write twice, the audit
 * may not contradict an answer, and the cluster must serve again after every fault.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingPrograms } from '@writeback/testkit/lab';
import { NATS_SERVER_BIN } from '@writeback/testkit/nats';

const CHAOS = fileURLToPath(new URL('../../bench/src/chaos.ts', import.meta.url));
const skip = NATS_SERVER_BIN
  ? missingPrograms(['slapd', 'slapadd', 'ldapsearch', 'psql'])
  : 'nats-server is not on PATH';

test('chaos --short: every fault under load, no false success, double write or audit mismatch', {
  skip,
  timeout: 280_000,
}, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', CHAOS, '--short'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', (c: number | null) => resolve(c)));
  const report = `exit ${code}\n${stdout}\n${stderr.slice(-4000)}`;

  const lines = stdout.trim().split('\n');
  const final = lines.at(-1) ?? '';
  const m =
    /^requests=(\d+) false_success=(\d+) double_write=(\d+) audit_mismatch=(\d+) unavailable_after_recovery_s=([\d.]+)$/.exec(
      final,
    );
  assert.ok(m, `the last line is the summary:\n${report}`);
  const [, requests, falseSuccess, doubleWrite, auditMismatch] = m.map(Number);
  assert.equal(falseSuccess, 0, report);
  assert.equal(doubleWrite, 0, report);
  assert.equal(auditMismatch, 0, report);
  assert.ok((requests ?? 0) > 100, `load ran through the scenarios:\n${report}`);

  // Every scenario ran, under load, and the cluster served again after it.
  const scenarios = lines.filter((l) => l.startsWith('scenario=') && !l.startsWith('scenario=warmup'));
  assert.deepEqual(
    scenarios.map((l) => /^scenario=(\S+)/.exec(l)?.[1]),
    ['kill_agent', 'kill_relay', 'kill_cloud', 'nats_down', 'pg_terminate', 'presence_delay', 'connection_flood'],
    report,
  );
  for (const l of scenarios) {
    assert.match(l, / recovered=yes/, report);
    assert.ok(Number(/ requests=(\d+)/.exec(l)?.[1]) > 0, `requests during ${l}`);
  }
  assert.equal(code, 0, report);
});
