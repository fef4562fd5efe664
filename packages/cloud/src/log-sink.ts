/**
 * Where this app's log lines go. The protocol formats and redacts them but does no I/O: the cloud
 * writes them, one JSON line each on stderr (stdout stays free for output meant for people).
 */
import {
  createLogger,
  parseLogLevel,
  setDefaultLogLevel,
  setDefaultLogSink,
  type Logger,
  type LogSink,
} from '@writeback/protocol';

/** One line per entry on this process's stderr. */
export const stderrLogSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/**
 * Make every logger created without its own sink write to stderr, at LOG_LEVEL when that names a
 * level. Called once by the process entry point, before it logs.
 */
export function useStderrLogging(env: Readonly<Record<string, string | undefined>> = process.env): void {
  setDefaultLogSink(stderrLogSink);
  const level = parseLogLevel(env.LOG_LEVEL);
  if (level !== undefined) setDefaultLogLevel(level);
}

/** The logger of a part created without one: stderr, at LOG_LEVEL when set (else the default level). */
export function defaultLogger(name: string): Logger {
  const level = parseLogLevel(process.env.LOG_LEVEL);
  return createLogger({ name, sink: stderrLogSink, ...(level !== undefined ? { level } : {}) });
}
