/**
 * Structured logging (JSON lines) with redaction: any field whose name looks like it holds a
 * secret is replaced before the line is written, whatever the caller passed. The sink is injected,
 * so tests capture every line a run writes.
 */

const SECRET_KEY =
  /pass(word)?|secret|token|^sig$|private|^d$|apikey|api_key|authorization|cookie|otp|code_?hash|ciphertext|^ct$/i;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogSink = (line: string) => void;

let defaultSink: LogSink = (line) => process.stderr.write(`${line}\n`);
/** Replace where every logger created without its own sink writes (tests capture output this way). */
export function setDefaultLogSink(sink: LogSink): LogSink {
  const prev = defaultSink;
  defaultSink = sink;
  return prev;
}

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

export function createLogger(opts: {
  name: string;
  level?: LogLevel;
  sink?: LogSink;
  fields?: Record<string, unknown>;
}): Logger {
  const envLevel = process.env.LOG_LEVEL as LogLevel | undefined;
  const min = ORDER[opts.level ?? (envLevel && envLevel in ORDER ? envLevel : 'info')];
  const base = opts.fields ?? {};
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
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
