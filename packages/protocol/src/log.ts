/**
 * Structured logging (JSON lines) with redaction: any field whose name looks like it holds a
 * secret is replaced before the line is written, whatever the caller passed.
 *
 * Formatting and redaction live here; writing does not. Each line goes to the logger's own sink, or
 * else to the process-wide default sink, which each app installs at start-up (`useStderrLogging`
 * in stderr-log.ts: stderr, and LOG_LEVEL as the default level) and tests replace to capture every
 * line a run writes. Until an app installs one, lines without a sink are dropped.
 */

const SECRET_KEY =
  /pass(word)?|secret|token|^sig$|private|^d$|apikey|api_key|authorization|cookie|otp|code_?hash|ciphertext|^ct$/i;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where one formatted line (JSON, no newline) goes. */
export type LogSink = (line: string) => void;

/** The default sink before an app installs its own: drops the line. */
export const discardLogSink: LogSink = () => {};

let defaultSink: LogSink = discardLogSink;
let defaultLevel: LogLevel = 'info';

/**
 * Replace where every logger created without its own sink writes (apps install theirs at start-up;
 * tests capture output this way). Takes effect for loggers already created. Returns the previous.
 */
export function setDefaultLogSink(sink: LogSink): LogSink {
  const prev = defaultSink;
  defaultSink = sink;
  return prev;
}

/** Replace the level of every logger created without its own level. Returns the previous. */
export function setDefaultLogLevel(level: LogLevel): LogLevel {
  const prev = defaultLevel;
  defaultLevel = level;
  return prev;
}

/** A log level from configuration text (e.g. LOG_LEVEL); undefined when it names none. */
export function parseLogLevel(value: unknown): LogLevel | undefined {
  return isLogLevel(value) ? value : undefined;
}
const isLogLevel = (value: unknown): value is LogLevel => typeof value === 'string' && Object.hasOwn(ORDER, value);

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[deep]';
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code !== undefined ? { code } : {}) };
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  if (typeof value === 'string' && value.length > 2000) return `${value.slice(0, 2000)}…`;
  return value;
}

/**
 * A logger writing one redacted JSON line per call at or above its level. Without `sink` or
 * `level`, the process-wide defaults apply at each call (see setDefaultLogSink / setDefaultLogLevel).
 */
export function createLogger(opts: {
  name: string;
  level?: LogLevel;
  sink?: LogSink;
  fields?: Record<string, unknown>;
}): Logger {
  const base = opts.fields ?? {};
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[opts.level ?? defaultLevel]) return;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level,
      name: opts.name,
      msg,
      ...(redact({ ...base, ...fields }) as object),
    });
    (opts.sink ?? defaultSink)(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}
