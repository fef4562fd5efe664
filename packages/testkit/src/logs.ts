/**
 * Log capture. The protocol's loggers write to their own sink or the process-wide default one
 * (each app installs stderr there at start-up); a test replaces the default to keep every line a
 * run writes, in this process, and looks for secrets in them.
 */
import { createLogger, setDefaultLogSink, type Logger, type LogLevel } from '@writeback/protocol';

export interface LogCapture {
  /** Every line written through the default sink while the capture is on. */
  lines: string[];
  /** Put the previous default sink back. */
  stop(): void;
}

/** Capture every log line written through the default sink until `stop()`. */
export function captureLogs(): LogCapture {
  const lines: string[] = [];
  const prev = setDefaultLogSink((line) => lines.push(line));
  return { lines, stop: () => void setDefaultLogSink(prev) };
}

/** A logger with its own sink: the lines it (and its children) write, formatted and redacted as in production. */
export function capturingLogger(name: string, level: LogLevel = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ name, level, sink: (line) => lines.push(line) }), lines };
}

/** A logger that drops everything (tests assert on codes, not on log lines). */
export function quietLog(): Logger {
  const noop = () => {};
  const log: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => log };
  return log;
}

/** The secrets (from `secrets`) that occur anywhere in `texts`: a test expects none. */
export function findSecrets(texts: Iterable<string>, secrets: Iterable<string>): string[] {
  const all = [...texts].join('\n');
  return [...secrets].filter((s) => all.includes(s));
}

/** Collects the lines of a child process's output stream into `into` (the agent process's log). */
export function collectLines(stream: NodeJS.ReadableStream | null | undefined, into: string[]): void {
  let rest = '';
  stream?.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) into.push(line);
  });
  stream?.on('end', () => {
    if (rest) into.push(rest);
    rest = '';
  });
}
