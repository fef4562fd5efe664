/**
 * `writeback-agent config show|set`: read and change the directory settings of a registered agent
 * without editing its 0600 state file by hand (issue 12).
 *
 * A change is checked before anything is written: by registration's schema (`DirectoryConfigSchema`)
 * and then by the adapter's own option check, the one `run` applies when it starts (named option,
 * `ldap://` without TLS refused, files it names readable), so a state `run` would refuse is never
 * written. The state file is rewritten atomically and stays 0600 (`writeState`). There is no file
 * watch in the daemon: a running agent keeps the settings it started with, and the result says so.
 *
 * Secrets (`bindPassword`) are never shown and never taken from the command line (it is visible in
 * the process list and stays in the shell's history): `bindPassword=-` reads it from stdin, or it
 * comes in the `--file` patch, or use `bindPasswordFile`.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  DIRECTORY_KINDS,
  DirectoryError,
  parseEmbeddedConfig,
  parseOpenLdapConfig,
  resolveAdConfig,
} from '@writeback/directory';
import type { Logger } from '@writeback/protocol';
import { DirectoryConfigSchema, loadState, writeState, type DirectoryConfig } from './config.js';
import { AgentError } from './errors.js';
import { runningDaemon } from './running-daemon.js';

/** A setting whose value is a secret: shown as `[redacted]`, never accepted on the command line. */
export function isSecretSetting(key: string): boolean {
  return /(password|secret|token)$/i.test(key);
}

export const REDACTED = '[redacted]';

/** The settings with every secret replaced by `[redacted]` (at any depth). */
export function redactSettings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSettings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSecretSetting(k) ? REDACTED : redactSettings(v)]),
    );
  }
  return value;
}

/** Nested settings as dotted keys (`policy.minLength`); arrays and scalars are leaves. */
export function flattenSettings(value: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      out.push(...flattenSettings(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

/** One `key=value` of `config set`: a dotted path and the text after the first `=`. */
export interface Assignment {
  path: string[];
  raw: string;
}

const KEY_SEGMENT = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** `key=value` → its parts; null when it is not one (no `=`, or a key that is not a dotted name). */
export function parseAssignment(text: string): Assignment | null {
  const eq = text.indexOf('=');
  if (eq <= 0) return null;
  const path = text.slice(0, eq).split('.');
  if (path.length > 4 || !path.every((s) => KEY_SEGMENT.test(s))) return null;
  return { path, raw: text.slice(eq + 1) };
}

/** A value as typed: JSON when it parses (numbers, true/false, arrays, objects, null), else text. */
function typedValue(raw: string, current: unknown): unknown {
  if (raw === 'null') return null;
  // A setting that is text now stays text (e.g. a login that looks like a number).
  if (typeof current === 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7396 JSON merge patch: objects merge, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * A directory configuration checked as registration checks it (its schema) and as `run` would
 * (the adapter's own option check). Throws AgentError `invalid_config` naming the option, or
 * `insecure_url` for a transport that would send passwords in clear.
 */
export function checkDirectoryConfig(input: unknown, log?: Logger): DirectoryConfig {
  const parsed = DirectoryConfigSchema.safeParse(input);
  if (!parsed.success) throw new AgentError('invalid_config', 'directory config must be an object with a "kind"');
  try {
    switch (parsed.data.kind) {
      case 'embedded':
        parseEmbeddedConfig(parsed.data, { prefix: 'directory', ...(log ? { log } : {}) });
        break;
      case 'ad':
        resolveAdConfig(parsed.data);
        break;
      case 'openldap':
        parseOpenLdapConfig(parsed.data, { prefix: 'directory', ...(log ? { log } : {}) });
        break;
      default:
        throw new TypeError(`directory.kind: must be one of ${DIRECTORY_KINDS.join(', ')}`);
    }
  } catch (cause) {
    // The AD adapter names its options `ad.…`; say `directory.…` as the others do.
    const message = cause instanceof Error ? cause.message.replace(/^ad\./, 'directory.') : 'invalid';
    if (cause instanceof DirectoryError && cause.code === 'insecure_transport')
      throw new AgentError('insecure_url', message, { cause });
    if (cause instanceof TypeError) throw new AgentError('invalid_config', message, { cause });
    throw cause;
  }
  return parsed.data;
}

/** What `config show` prints. */
export interface ShownSettings {
  agentId: string;
  name: string;
  directory: Record<string, unknown>;
}

/** The directory settings of the state file at `statePath`, secrets redacted. */
export async function showDirectorySettings(statePath: string): Promise<ShownSettings> {
  const state = await loadState(statePath);
  return {
    agentId: state.agentId,
    name: state.name,
    directory: redactSettings(state.directory) as Record<string, unknown>,
  };
}

export interface SetSettingsOptions {
  statePath: string;
  /** `key=value` changes, applied after `patch`. */
  assignments: readonly Assignment[];
  /** A JSON merge patch of the directory settings (`--file`). */
  patch?: unknown;
  /** Reads a secret given as `-` (one line from stdin). */
  readSecret: () => Promise<string>;
  /** Check only; write nothing. */
  dryRun?: boolean;
  log?: Logger;
}

export interface SetSettingsResult {
  /** Dotted keys whose value changed (secrets by name only). */
  changed: string[];
  written: boolean;
  /** The pid of the `run` of this state file when it runs (it keeps the old settings until restarted). */
  daemonPid: number | null;
  restartNeeded: boolean;
}

/** Apply changes to the directory settings of a state file. Throws AgentError (nothing written then). */
export async function setDirectorySettings(o: SetSettingsOptions): Promise<SetSettingsResult> {
  const state = await loadState(o.statePath);
  const before: DirectoryConfig = state.directory;
  let next: unknown = o.patch === undefined ? structuredClone(before) : mergePatch(before, o.patch);
  if (!isRecord(next)) throw new AgentError('invalid_config', 'the --file patch must be a JSON object');
  for (const a of o.assignments) {
    const key = a.path.join('.');
    const last = a.path[a.path.length - 1] ?? '';
    let value: unknown;
    if (isSecretSetting(last)) {
      if (a.raw !== '-')
        throw new AgentError(
          'config_secret_in_argv',
          `${key}: a secret is not taken from the command line; give ${key}=- and type it on stdin, or use --file`,
        );
      value = await o.readSecret();
      if (value === '') throw new AgentError('invalid_config', `${key}: nothing was read from stdin`);
    } else value = typedValue(a.raw, currentAt(next, a.path));
    next = setAt(next, a.path, value);
  }
  const after = checkDirectoryConfig(next, o.log);
  if (after.kind !== before.kind)
    throw new AgentError(
      'config_kind_change',
      `directory.kind: ${before.kind} cannot become ${after.kind}; register a new agent for another kind of directory`,
    );
  const changed = changedKeys(before, after);
  const daemon = await runningDaemon(o.statePath);
  const written = changed.length > 0 && !o.dryRun;
  if (written) await writeState(o.statePath, { ...state, directory: after });
  return { changed, written, daemonPid: daemon?.pid ?? null, restartNeeded: written && daemon !== null };
}

function currentAt(root: unknown, path: readonly string[]): unknown {
  let at = root;
  for (const k of path) at = isRecord(at) ? at[k] : undefined;
  return at;
}

/** A copy of `root` with `value` at `path` (null removes it), creating objects on the way. */
function setAt(root: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (value === null && currentAt(root, path) === undefined) return root; // removing what is not there
  const out: Record<string, unknown> = isRecord(root) ? { ...root } : {};
  const inner = rest.length === 0 ? value : setAt(out[head], rest, value);
  if (inner === null) delete out[head];
  else out[head] = inner;
  return out;
}

function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const a = new Map(flattenSettings(before));
  const b = new Map(flattenSettings(after));
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => !isDeepStrictEqual(a.get(k), b.get(k))).sort();
}
