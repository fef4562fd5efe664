/**
 * A real Debian tinyproxy of the test's own: its own configuration file, a free loopback port,
 * Basic auth, in the foreground (`tinyproxy -d -c <conf>`, no daemon), its log in the test's folder
 * (every request line, so a test can see the CONNECTs it made). Installed by
 * scripts/install-directory-servers.sh; tests skip without it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { collectLines, freePort, waitFor } from '@writeback/testkit';

/** The tinyproxy binary, or null when it is not installed (tests skip then). */
export const TINYPROXY_BIN: string | null = (() => {
  const found = spawnSync('sh', ['-c', 'command -v tinyproxy'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : null;
})();

export interface Tinyproxy {
  /** http://127.0.0.1:<port> (no credentials: they go in the auth file). */
  url: string;
  port: number;
  /** The request lines tinyproxy logged, e.g. `CONNECT 127.0.0.1:41234 HTTP/1.1`. */
  requests(): string[];
  /** Its whole log (file and output). */
  log(): string;
  stop(): Promise<void>;
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** Start tinyproxy on a free port of 127.0.0.1 requiring `user`/`password` (Basic); ready when this resolves. */
export async function startTinyproxy(dir: string, auth: { user: string; password: string }): Promise<Tinyproxy> {
  if (!TINYPROXY_BIN) throw new Error('tinyproxy is not installed');
  const port = await freePort();
  const logFile = join(dir, `tinyproxy-${port}.log`);
  const conf = join(dir, `tinyproxy-${port}.conf`);
  writeFileSync(logFile, '');
  // No ConnectPort line: CONNECT to any port (the relays of a test listen on free ports).
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      'MaxClients 64',
      `BasicAuth ${auth.user} ${auth.password}`,
      '',
    ].join('\n'),
  );
  const output: string[] = [];
  const child: ChildProcess = spawn(TINYPROXY_BIN, ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.stdout) collectLines(child.stdout, output);
  if (child.stderr) collectLines(child.stderr, output);
  const log = () => `${output.join('\n')}\n${readFileSync(logFile, 'utf8')}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`tinyproxy exited:\n${log()}`);
      return portOpen(port);
    },
    { what: 'tinyproxy to listen', timeoutMs: 10_000 },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    requests: () =>
      log()
        .split('\n')
        .flatMap((l) => {
          const m = /Request \(file descriptor \d+\): (.+)$/.exec(l);
          return m?.[1] ? [m[1].trim()] : [];
        }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
