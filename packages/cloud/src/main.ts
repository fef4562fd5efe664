/** Process entry: configuration from the environment, start, and a clean stop on SIGINT/SIGTERM. */
import { createLogger } from '@writeback/protocol';
import { createCloud } from './app.js';
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

main().catch((err: unknown) => {
  // TypeErrors name the bad option; print the message itself so it is readable at a glance.
  log.error('start-up failed', { err });
  if (err instanceof TypeError) process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
