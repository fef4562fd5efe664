/**
 * Process entry: configuration from the environment, start, and a clean stop on SIGINT/SIGTERM;
 * or, with a command as first argument, one operator command (commands.ts) and exit.
 */
import { createLogger } from '@writeback/protocol';
import { createCloud } from './app.js';
import { runCommand } from './commands.js';
import { loadConfig } from './config.js';
import { useStderrLogging } from './log-sink.js';

useStderrLogging(process.env);
const log = createLogger({ name: 'cloud' });

async function main(): Promise<void> {
  const config = loadConfig({ env: process.env });
  const cloud = await createCloud(config, { log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('signal received, stopping', { signal });
    cloud.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

const [command, ...args] = process.argv.slice(2);
const run =
  command === undefined
    ? main()
    : runCommand(command, args, {
        env: process.env,
        log,
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      }).then((code) => process.exit(code));

run.catch((err: unknown) => {
  // TypeErrors name the bad option; print the message itself so it is readable at a glance.
  log.error(command === undefined ? 'start-up failed' : `${command} failed`, { err });
  if (err instanceof TypeError) process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
