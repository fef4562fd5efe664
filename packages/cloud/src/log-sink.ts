/**
 * Where this app's log lines go: stderr, through the protocol's sink (stderr-log.ts), which the
 * process entry point installs (`useStderrLogging`, re-exported for the package's users).
 */
import { createLogger, parseLogLevel, stderrLogSink, type Logger } from '@writeback/protocol';

export { stderrLogSink, useStderrLogging } from '@writeback/protocol';

/** The logger of a part created without one: stderr, at LOG_LEVEL when set (else the default level). */
export function defaultLogger(name: string): Logger {
  const level = parseLogLevel(process.env.LOG_LEVEL);
  return createLogger({ name, sink: stderrLogSink, ...(level !== undefined ? { level } : {}) });
}
