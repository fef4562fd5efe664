/**
 * `writeback-agent`: the agent's command line.
 *
 *   writeback-agent register --cloud <url> --token <t> --name <n> --state <path> --directory <json|@file>
 *   writeback-agent run --state <path> [--relays <url,url…>] [--connections <n>] [--ca <pem file>] [--allow-plaintext]
 *   writeback-agent status --state <path> [--json]
 *   writeback-agent config show --state <path> [--json]
 *   writeback-agent config set --state <path> [--file <json>] [--dry-run] [--json] [key=value …]
 *   writeback-agent doctor --state <path> [--relays <url,url…>] [--json] [--ca <pem file>] [--timeout <ms>] [--no-reset-probe]
 *
 * Every argument is parsed with a schema; usage errors exit 2, runtime errors exit 1 with the
 * error's code. The token may come from WRITEBACK_AGENT_TOKEN instead of argv (argv is visible
 * in the process list). The relay list may come from WRITEBACK_RELAY_URLS; the outbound proxy from
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY, WRITEBACK_PROXY_AUTH_FILE and WRITEBACK_PROXY_CA_FILE (proxy.ts).
 */
import { z } from 'zod';
import { loadState } from './config.js';
import { type CliIo, StatePath, UsageError, args, parse, parseCommand, readJsonArg } from './cli-args.js';
import { configCommand } from './config-cli.js';

export type { CliIo } from './cli-args.js';
import { startAgent } from './daemon.js';
import { resolveDirectoryFactory } from './directory-factory.js';
import { AgentError } from './errors.js';
import { cliLogger } from './log-sink.js';
import { doctorExitCode, runDoctor, type DoctorReport } from './doctor.js';
import { proxySettingsFromEnv } from './proxy.js';
import { registerAgent } from './register.js';
import { parseUrlList } from './relays.js';
import { runningDaemon } from './running-daemon.js';
import { AGENT_VERSION } from './version.js';

const USAGE = `writeback-agent ${AGENT_VERSION}: on-premises agent for password writeback

Usage:
  writeback-agent register --cloud <url> --token <token> --name <name> --state <path> --directory <json|@file>
                           [--overwrite] [--allow-plaintext]
      Make this agent's key pairs, register their public halves with the cloud using the admin's
      one-time token (or WRITEBACK_AGENT_TOKEN), and write the state file (mode 0600).
  writeback-agent run --state <path> [--relays <url,url…>] [--connections <1-16>] [--ca <pem file>]
                      [--allow-plaintext]
      Connect to the relays (the state's, or --relays / WRITEBACK_RELAY_URLS; links spread over them,
      one per relay by default) and execute requests until SIGTERM/SIGINT (then finish in-flight work).
  writeback-agent status --state <path> [--json]
      Show this agent's identity and, when it runs, its relay links.
  writeback-agent config show --state <path> [--json]
      Show the directory settings in the state file (secrets redacted).
  writeback-agent config set --state <path> [--file <json merge patch>] [--dry-run] [--json] [key=value …]
      Change directory settings (dotted keys; values are JSON when they parse, else text; null removes;
      a secret as key=- is read from stdin). Checked like at registration and as run checks them at
      start, then written atomically (0600). A running agent keeps its old settings until restarted.
  writeback-agent doctor --state <path> [--relays <url,url…>] [--json] [--ca <pem file>] [--timeout <ms>]
                         [--no-reset-probe]
      Check the state file, the outbound proxy, the cloud, each relay (TLS, port, the real handshake),
      the clock and the directory (TLS, bind, rights, policy). Exit 0: all pass; 1: warnings only; 2: a failure.
  writeback-agent --help | --version

Outbound proxy (register, run, doctor): HTTPS_PROXY (wss://, https://), HTTP_PROXY (ws://, http://),
NO_PROXY, WRITEBACK_PROXY_AUTH_FILE (user:password), WRITEBACK_PROXY_CA_FILE (a TLS-inspecting proxy's CA).
`;

const RegisterArgs = z.object({
  cloud: z.string().min(1),
  token: z.string().min(1).max(1024),
  name: z.string().min(1).max(128),
  state: StatePath,
  directory: z.string().min(1),
  overwrite: z.boolean().default(false),
  'allow-plaintext': z.boolean().default(false),
});
const RunArgs = z.object({
  state: StatePath,
  relays: z.string().min(1).optional(),
  connections: z.coerce.number().int().min(1).max(16).optional(),
  ca: z.string().min(1).optional(),
  'allow-plaintext': z.boolean().default(false),
});
const StatusArgs = z.object({ state: StatePath, json: z.boolean().default(false) });
const DoctorArgs = z.object({
  state: StatePath,
  relays: z.string().min(1).optional(),
  json: z.boolean().default(false),
  ca: z.string().min(1).optional(),
  timeout: z.coerce.number().int().min(100).max(120_000).default(10_000),
  'no-reset-probe': z.boolean().default(false),
});

type Command = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  async register(argv, io) {
    const raw = args(argv, RegisterArgs);
    const a = parse(RegisterArgs, { ...raw, token: raw.token ?? io.env.WRITEBACK_AGENT_TOKEN });
    const state = await registerAgent({
      cloudUrl: a.cloud,
      token: a.token,
      name: a.name,
      statePath: a.state,
      directory: await readJsonArg('--directory', a.directory),
      overwrite: a.overwrite,
      allowPlaintext: a['allow-plaintext'],
      fetch: io.fetch,
      proxy: proxySettingsFromEnv(io.env),
      log: cliLogger(io, 'agent'),
    });
    io.stdout(
      `registered agent ${state.agentId} (tenant ${state.tenantId}); relay ${state.relayUrl}; state written to ${a.state}\n`,
    );
    return 0;
  },

  async run(argv, io) {
    const a = parseCommand(RunArgs, argv);
    const openDirectory = await resolveDirectoryFactory();
    if (!openDirectory)
      throw new AgentError(
        'directory_not_configured',
        'this build has no directory factory (@writeback/directory openDirectory)',
      );
    const log = cliLogger(io, 'agent');
    const relays = parseUrlList(a.relays ?? io.env.WRITEBACK_RELAY_URLS);
    const agent = await startAgent({
      statePath: a.state,
      openDirectory,
      log,
      proxy: proxySettingsFromEnv(io.env),
      ...(relays.length > 0 ? { relayUrls: relays } : {}),
      ...(a.connections !== undefined ? { connections: a.connections } : {}),
      allowPlaintext: a['allow-plaintext'],
      statusPath: `${a.state}.status`,
      ...(a.ca ? { caFile: a.ca } : {}),
    });
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        log.info('signal received; stopping', { signal });
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    await agent.stop();
    return 0;
  },

  async status(argv, io) {
    const a = parseCommand(StatusArgs, argv);
    const state = await loadState(a.state);
    const running = await runningDaemon(a.state);
    const summary = {
      agentId: state.agentId,
      tenantId: state.tenantId,
      name: state.name,
      cloudUrl: state.cloudUrl,
      relayUrl: state.relayUrl,
      relayUrls: state.relayUrls ?? [state.relayUrl],
      directory: state.directory.kind,
      certificateIssuedAt: new Date(state.certificate.issuedAt).toISOString(),
      daemon: running ? { pid: running.pid, updatedAt: running.updatedAt, links: running.links } : null,
    };
    if (a.json) {
      io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
      return 0;
    }
    const lines = [
      `agent      ${summary.agentId} (${summary.name})`,
      `tenant     ${summary.tenantId}`,
      `cloud      ${summary.cloudUrl}`,
      `relay      ${summary.relayUrls.join(', ')}`,
      `directory  ${summary.directory}`,
      `daemon     ${summary.daemon ? `running, pid ${summary.daemon.pid}, updated ${summary.daemon.updatedAt}` : 'not running'}`,
      ...(summary.daemon?.links ?? []).map(
        (l) =>
          `  link ${l.index}  ${l.status}${l.relayUrl ? `  ${l.relayUrl}` : ''}${l.proxy ? ` via ${l.proxy}` : ''}${l.lastError ? `  (last error: ${l.lastError})` : ''}`,
      ),
    ];
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  },

  config: configCommand,

  async doctor(argv, io) {
    const a = parseCommand(DoctorArgs, argv);
    const report = await runDoctor({
      statePath: a.state,
      timeoutMs: a.timeout,
      log: cliLogger(io, 'agent.doctor', 'error'),
      env: io.env,
      relayUrls: parseUrlList(a.relays ?? io.env.WRITEBACK_RELAY_URLS),
      ...(a.ca ? { caFile: a.ca } : {}),
      ...(a['no-reset-probe'] ? { probeReset: false } : {}),
    });
    io.stdout(
      a.json
        ? `${JSON.stringify(report, null, 2)}\n`
        : formatDoctorReport(report, io.isTTY === true && !io.env.NO_COLOR),
    );
    return doctorExitCode(report.status);
  },
};

const COLOURS = { pass: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m' } as const;
const RESET = '\x1b[0m';

/** The readable report: one line per check, an indented fix under a warning or failure, a summary. */
export function formatDoctorReport(report: DoctorReport, colour: boolean): string {
  const paint = (status: keyof typeof COLOURS, text: string) => (colour ? `${COLOURS[status]}${text}${RESET}` : text);
  const width = Math.max(0, ...report.checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${paint(c.status, c.status.toUpperCase())}  ${c.id.padEnd(width)}  ${c.summary}`);
    if (c.status !== 'pass' && c.fix) lines.push(`${' '.repeat(6 + width)}→ ${c.fix}`);
  }
  const count = (s: keyof typeof COLOURS) => report.checks.filter((c) => c.status === s).length;
  const verdict =
    report.status === 'pass'
      ? 'all checks pass'
      : report.status === 'warn'
        ? 'warnings only'
        : 'at least one check FAILS';
  lines.push(
    '',
    `${report.checks.length} checks: ${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail: ${paint(report.status, verdict)}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Run the CLI with these arguments (without node and the script). Returns the exit code. */
export async function runCli(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = {
    stdout: io.stdout ?? ((t) => process.stdout.write(t)),
    stderr: io.stderr ?? ((t) => process.stderr.write(t)),
    env: io.env ?? process.env,
    fetch: io.fetch ?? fetch,
    isTTY: io.isTTY ?? (io.stdout === undefined && process.stdout.isTTY === true),
    ...(io.readLine ? { readLine: io.readLine } : {}),
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    full.stdout(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    full.stdout(`${AGENT_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    full.stderr(`unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    full.stdout(USAGE);
    return 0;
  }
  try {
    return await command(rest, full);
  } catch (err) {
    if (err instanceof UsageError) {
      full.stderr(`${name}: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof AgentError) {
      full.stderr(`${name} failed [${err.code}${err.cloudCode ? `/${err.cloudCode}` : ''}]: ${err.message}\n`);
      return 1;
    }
    full.stderr(`${name} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    return 1;
  }
}
