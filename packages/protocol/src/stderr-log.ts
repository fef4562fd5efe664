/**
 * The log sink every app installs at start-up: one JSON line per entry on the process's stderr
 * (stdout stays free for output meant for people). The one write the protocol does; formatting and
 * redaction are log.ts's, and nothing here runs until an app calls it.
 */
import { parseLogLevel, setDefaultLogLevel, setDefaultLogSink, type LogSink } from './log.js';

/** One line per entry on this process's stderr. */
export const stderrLogSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/**
 * Make every logger created without its own sink write to stderr, at LOG_LEVEL when that names a
 * level. Called once by a process entry point, before it logs.
 */
export function useStderrLogging(env: Readonly<Record<string, string | undefined>> = process.env): void {
  setDefaultLogSink(stderrLogSink);
  const level = parseLogLevel(env.LOG_LEVEL);
  if (level !== undefined) setDefaultLogLevel(level);
}
