/** `writeback-agent config show|set`: the command line of config-command.ts. */
import { z } from 'zod';
import { type CliIo, StatePath, UsageError, argsAndPositionals, parse, parseCommand, readJsonArg } from './cli-args.js';
import {
  flattenSettings,
  parseAssignment,
  setDirectorySettings,
  showDirectorySettings,
  type Assignment,
} from './config-command.js';
import { cliLogger } from './log-sink.js';

const ConfigShowArgs = z.object({ state: StatePath, json: z.boolean().default(false) });
const ConfigSetArgs = z.object({
  state: StatePath,
  file: z.string().min(1).optional(),
  json: z.boolean().default(false),
  'dry-run': z.boolean().default(false),
});

/** `config show …` / `config set …`. Returns the exit code; throws UsageError or AgentError. */
export async function configCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'show') {
    const a = parseCommand(ConfigShowArgs, rest);
    const shown = await showDirectorySettings(a.state);
    if (a.json) io.stdout(`${JSON.stringify(shown, null, 2)}\n`);
    else {
      const rows = flattenSettings(shown.directory);
      const width = Math.max(0, ...rows.map(([k]) => k.length));
      io.stdout(
        `directory settings of agent ${shown.agentId} (${shown.name}):\n${rows
          .map(([k, v]) => `  ${k.padEnd(width)}  ${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join('\n')}\n`,
      );
    }
    return 0;
  }
  if (sub !== 'set') throw new UsageError('give "show" or "set"');
  const { values, positionals } = argsAndPositionals(rest, ConfigSetArgs, true);
  const a = parse(ConfigSetArgs, values);
  const assignments: Assignment[] = positionals.map((p) => {
    const parsed = parseAssignment(p);
    if (!parsed)
      throw new UsageError(`"${p.split('=')[0]}": give key=value (a dotted setting name, e.g. timeoutMs=5000)`);
    return parsed;
  });
  const patch = a.file === undefined ? undefined : await readJsonArg('--file', `@${a.file}`);
  if (assignments.length === 0 && patch === undefined) throw new UsageError('set: nothing to set');
  const result = await setDirectorySettings({
    statePath: a.state,
    assignments,
    ...(patch !== undefined ? { patch } : {}),
    readSecret: io.readLine ?? readStdinLine,
    dryRun: a['dry-run'],
    log: cliLogger(io, 'agent.config'),
  });
  if (a.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.changed.length === 0) io.stdout('nothing changed: the settings already have these values\n');
  else {
    const what = `${result.changed.join(', ')}`;
    const next = !result.written
      ? 'checked, not written (--dry-run)'
      : result.restartNeeded
        ? `the running agent (pid ${result.daemonPid}) still uses the old settings: restart it (e.g. systemctl restart writeback-agent)`
        : 'the agent is not running: they apply when it starts';
    io.stdout(`${result.written ? 'changed' : 'would change'}: ${what}\n${next}\n`);
  }
  return 0;
}

/** The first line of stdin (a secret piped or typed in; the newline is not part of it). */
async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) return readTerminalSecret();
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** A secret typed at the terminal, not echoed. Ctrl-C abandons (nothing read). */
function readTerminalSecret(): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write('secret (not shown), then Enter: ');
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let text = '';
    const done = (value: string) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(text);
        if (ch === '\u0003') return done('');
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
