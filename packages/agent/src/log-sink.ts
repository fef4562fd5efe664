/**
 * Where this app's log lines go. The protocol formats and redacts them but does no I/O: the agent
 * writes them, one JSON line each on stderr (stdout stays free for output meant for people).
 */
import { createLogger, parseLogLevel, type Logger, type LogLevel, type LogSink } from '@writeback/protocol';

/** One line per entry on this process's stderr. */
export const stderrLogSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/** The logger of a part created without one: stderr, at LOG_LEVEL when set (else the default level). */
export function defaultLogger(name: string): Logger {
  const level = parseLogLevel(process.env.LOG_LEVEL);
  return createLogger({ name, sink: stderrLogSink, ...(level !== undefined ? { level } : {}) });
}

/** The CLI's logger: lines through its stderr writer, at `level`, else LOG_LEVEL from its environment. */
export function cliLogger(
  io: { stderr: (text: string) => void; env: Readonly<Record<string, string | undefined>> },
  name: string,
  level?: LogLevel,
): Logger {
  const min = level ?? parseLogLevel(io.env.LOG_LEVEL);
  return createLogger({ name, sink: (line) => io.stderr(`${line}\n`), ...(min !== undefined ? { level: min } : {}) });
}
