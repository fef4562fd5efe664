#!/usr/bin/env node
/**
 * A stand-in for `systemctl` in the deployment guide's test (test/e2e/deploy-doc.test.ts): the
 * test machine has no running systemd. `start` does what systemd would do with the unit's
 * [Service] keys that decide whether the service works at all: `User`, `Group`,
 * `EnvironmentFile`, `Environment`, `WorkingDirectory`, `StateDirectory`(`Mode`), `ExecStartPre`
 * (a leading `-`: its failure is ignored), `ExecStart` (`Type=oneshot`: run to its end, then
 * `ExecStartPost`; otherwise left running, detached, its output in the "journal"). It does not do
 * the sandboxing, restarts or timers: `enable` of a timer only records it. `stop` sends SIGTERM and
 * waits for the process to end.
 *
 * Paths in units are those of a real host; DEPLOY_DOC_ROOT (the scratch folder) and
 * DEPLOY_DOC_CHECKOUT (this checkout, the guide's /opt/writeback) move them as the test moves the
 * guide's blocks. Units are read from <root>/etc/systemd/system; pid files go to <root>/run and the
 * output to <root>/journal/<unit>.log (what the journalctl stand-in prints).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

const root = process.env.DEPLOY_DOC_ROOT;
const checkout = process.env.DEPLOY_DOC_CHECKOUT;
if (!root || !checkout) {
  process.stderr.write('systemctl stand-in: DEPLOY_DOC_ROOT and DEPLOY_DOC_CHECKOUT must be set\n');
  process.exit(2);
}

/** The same move as the test's: a host path to its scratch place (a path moved already stays). */
function hostPath(text) {
  return text.replace(
    /(?<![\w./-])(\/opt\/writeback(?![\w-])|\/etc\/writeback|\/var\/lib\/writeback|\/var\/backups\/writeback|\/etc\/systemd\/system)/g,
    (m) => (m.startsWith('/opt/writeback') ? checkout : `${root}${m}`),
  );
}

const unitDir = join(root, 'etc', 'systemd', 'system');
const runDir = join(root, 'run');
const journalDir = join(root, 'journal');
mkdirSync(runDir, { recursive: true });
mkdirSync(journalDir, { recursive: true });

const unitName = (n) => (n.includes('.') ? n : `${n}.service`);

/** [Section] → key → values, in order (a key may repeat). */
function readUnit(name) {
  const file = join(unitDir, name);
  if (!existsSync(file)) throw new Error(`Unit ${name} not found.`);
  const unit = new Map();
  let section;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = new Map();
      unit.set(head[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`${name}: not a key=value line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Words of a command line, systemd's way: quotes group, `$VAR`/`${VAR}` expand, `%%` is `%`. */
function words(line, env) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const w = m[1] ?? m[2] ?? m[3] ?? '';
    const expanded = (
      m[2] !== undefined ? w : w.replace(/\$\{(\w+)\}|\$(\w+)/g, (_s, a, b) => env[a ?? b] ?? '')
    ).replaceAll('%%', '%');
    out.push(expanded);
  }
  return out;
}

function envFile(path) {
  const env = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq > 0)
      env[line.slice(0, eq).trim()] = line
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
  }
  return env;
}

function account(user) {
  const entry = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim().split(':');
  return { uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] ?? '/' };
}

/** Everything systemd would hand the unit's processes. */
function serviceContext(name) {
  const unit = readUnit(name);
  const s = unit.get('Service') ?? new Map();
  const one = (k) => s.get(k)?.at(-1);
  const user = one('User');
  const acct = user ? account(user) : { uid: 0, gid: 0, home: '/root' };
  const group = one('Group');
  const gid = group ? Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]) : acct.gid;
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: acct.home,
    ...(user ? { USER: user, LOGNAME: user } : {}),
  };
  for (const f of s.get('EnvironmentFile') ?? []) {
    const path = hostPath(f.replace(/^-/, ''));
    if (existsSync(path)) Object.assign(env, envFile(path));
    else if (!f.startsWith('-')) throw new Error(`${name}: EnvironmentFile ${f} does not exist`);
  }
  for (const e of s.get('Environment') ?? [])
    for (const w of words(hostPath(e), {})) {
      const eq = w.indexOf('=');
      if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1);
    }
  for (const d of (one('StateDirectory') ?? '').split(/\s+/).filter(Boolean)) {
    const dir = join(root, 'var', 'lib', d);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, acct.uid, gid);
    chmodSync(dir, Number.parseInt(one('StateDirectoryMode') ?? '0755', 8));
  }
  const cwd = hostPath(one('WorkingDirectory') ?? acct.home);
  const command = (line) => {
    const ignoreFailure = line.startsWith('-');
    const [file, ...args] = words(hostPath(line.replace(/^[-@+!]+/, '')), env);
    return { file, args, ignoreFailure };
  };
  return { type: one('Type') ?? 'simple', uid: acct.uid, gid, env, cwd, command, s };
}

const pidFile = (name) => join(runDir, `${name}.pid`);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function runToEnd(ctx, line, log) {
  const c = ctx.command(line);
  const fd = openSync(log, 'a');
  const r = spawnSync(c.file, c.args, {
    cwd: ctx.cwd,
    env: ctx.env,
    uid: ctx.uid,
    gid: ctx.gid,
    stdio: ['ignore', fd, fd],
  });
  if (r.status !== 0 && !c.ignoreFailure) throw new Error(`${line}: exit ${r.status ?? r.signal ?? r.error}`);
}

function start(name) {
  if (name.endsWith('.timer')) {
    writeFileSync(join(runDir, `${name}.enabled`), '');
    return;
  }
  const pid = existsSync(pidFile(name)) ? Number(readFileSync(pidFile(name), 'utf8')) : 0;
  if (pid && alive(pid)) return;
  const ctx = serviceContext(name);
  const log = join(journalDir, `${name}.log`);
  for (const line of ctx.s.get('ExecStartPre') ?? []) runToEnd(ctx, line, log);
  const main = ctx.s.get('ExecStart')?.at(-1);
  if (!main) throw new Error(`${name}: no ExecStart`);
  if (ctx.type === 'oneshot') {
    runToEnd(ctx, main, log);
    for (const line of ctx.s.get('ExecStartPost') ?? []) runToEnd(ctx, line, log);
    return;
  }
  const c = ctx.command(main);
  const fd = openSync(log, 'a');
  const child = spawn(c.file, c.args, {
    cwd: ctx.cwd,
    env: ctx.env,
    uid: ctx.uid,
    gid: ctx.gid,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  writeFileSync(pidFile(name), String(child.pid));
  child.unref();
}

function stop(name) {
  if (name.endsWith('.timer')) return rmSync(join(runDir, `${name}.enabled`), { force: true });
  if (!existsSync(pidFile(name))) return;
  const pid = Number(readFileSync(pidFile(name), 'utf8'));
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  const until = Date.now() + 30_000;
  while (alive(pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  if (alive(pid)) throw new Error(`${name}: still running 30 s after SIGTERM`);
  rmSync(pidFile(name), { force: true });
}

const [verb, ...rest] = process.argv.slice(2);
const units = rest.filter((a) => !a.startsWith('-')).map(unitName);
try {
  switch (verb) {
    case 'daemon-reload':
      break;
    case 'enable':
      if (rest.includes('--now')) for (const u of units) start(u);
      break;
    case 'start':
      for (const u of units) start(u);
      break;
    case 'stop':
      for (const u of units) stop(u);
      break;
    case 'restart':
      for (const u of units) {
        stop(u);
        start(u);
      }
      break;
    case 'is-active': {
      const ok = units.every((u) => existsSync(pidFile(u)) && alive(Number(readFileSync(pidFile(u), 'utf8'))));
      process.stdout.write(`${ok ? 'active' : 'inactive'}\n`);
      process.exit(ok ? 0 : 3);
      break;
    }
    default:
      process.stderr.write(`systemctl stand-in: ${verb} is not emulated\n`);
      process.exit(2);
  }
} catch (err) {
  process.stderr.write(`systemctl stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
