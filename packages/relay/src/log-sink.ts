/**
 * Where this app's log lines go. The protocol formats and redacts them but does no I/O: the relay
 * writes them, one JSON line each on stderr (stdout stays free for output meant for people).
 */
import { parseLogLevel, setDefaultLogLevel, setDefaultLogSink, type LogSink } from '@writeback/protocol';

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
