/**
 * `agent doctor` checks for the embedded directory: the configuration, its folder, whether the
 * store reads back, the password hash cost, the default policy's minimum age and the protected
 * accounts.
 *
 * Read-only on purpose: opening the store for real would take its lock, compact it and apply the
 * configured policy (writes), would fail while the agent daemon holds it (the usual case when an
 * administrator runs the doctor), and, run as another user (sudo), would leave files the agent
 * cannot replace. So the files are read back with the store's own reader (`load`), without the lock.
 */
import { constants as fsc } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '@writeback/protocol';
import type { DirectoryDeps } from '../directory.js';
import type { DoctorCheck } from '../doctor.js';
import { HASH_COST, parseEmbeddedConfig, type ResolvedEmbeddedConfig } from './config.js';
import { DEFAULT_POLICY, mergePolicy, type PasswordPolicy } from './policy.js';
import type { DirectoryState } from './state.js';
import { JOURNAL_FILE, LOCK_FILE, load, readIfExists, SNAPSHOT_FILE } from './store.js';
import { DirectoryError } from '../errors.js';

export type EmbeddedDoctorDeps = DirectoryDeps;

function errnoCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

const canWrite = (path: string) =>
  access(path, fsc.W_OK | fsc.X_OK).then(
    () => true,
    () => false,
  );

function formatSeconds(s: number): string {
  if (s % 86_400 === 0) return `${s / 86_400} day(s)`;
  if (s % 3600 === 0) return `${s / 3600} hour(s)`;
  if (s % 60 === 0) return `${s / 60} minute(s)`;
  return `${s} s`;
}

type ReadBack = { ok: true; state: DirectoryState } | { ok: false; summary: string; fix: string };

/** The store as `EmbeddedStore.open` would load it, through the same reader, without the lock. */
async function readBack(folder: string): Promise<ReadBack> {
  try {
    const { state } = await load(folder, createLogger({ name: 'directory.embedded.doctor', level: 'error' }));
    return { ok: true, state };
  } catch (err) {
    if (err instanceof DirectoryError && err.code === 'store_corrupt') {
      return {
        ok: false,
        summary: err.message,
        fix: 'Stop the agent and restore the directory folder from a backup; the agent refuses to open a corrupt store.',
      };
    }
    return {
      ok: false,
      summary: `store files cannot be read (${String(errnoCode(err) ?? 'error')})`,
      fix: 'Run the doctor as the user the agent runs as, and give that user read and write access to the folder.',
    };
  }
}

/** The process holding the store's lock, when it is alive. */
async function lockHolder(folder: string): Promise<number | null> {
  const text = await readIfExists(join(folder, LOCK_FILE)).catch(() => null);
  const pid = Number.parseInt(text ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return errnoCode(err) === 'EPERM' ? pid : null;
  }
}

/** Run every embedded-directory check; never throws for what it finds (a bad config is a failed `config` check). */
export async function embeddedDoctorChecks(config: unknown, deps: EmbeddedDoctorDeps = {}): Promise<DoctorCheck[]> {
  // The parse warning about a low hash cost would repeat the hash_cost check: keep it out of sight.
  const log = deps.log ?? createLogger({ name: 'directory.embedded.doctor', level: 'error' });
  const checks: DoctorCheck[] = [];

  let cfg: ResolvedEmbeddedConfig;
  try {
    cfg = parseEmbeddedConfig(config, { prefix: 'directory', log });
  } catch (err) {
    checks.push({
      id: 'config',
      status: 'fail',
      summary: err instanceof Error ? err.message : 'invalid configuration',
      fix: "Correct the option named above in the state file's directory configuration.",
    });
    return checks;
  }
  const folder = resolve(cfg.path);
  checks.push({
    id: 'config',
    status: 'pass',
    summary: `embedded directory in ${folder} (durability ${cfg.durability})`,
  });

  // Folder: it must exist as a folder the agent can write to, or be creatable.
  let exists = false;
  try {
    const s = await stat(folder);
    if (!s.isDirectory()) {
      checks.push({
        id: 'folder',
        status: 'fail',
        summary: `${folder} exists and is not a folder`,
        fix: 'Point directory.path at a folder (it is created when missing).',
      });
      return checks;
    }
    exists = true;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') {
      checks.push({
        id: 'folder',
        status: 'fail',
        summary: `${folder} cannot be examined (${String(errnoCode(err) ?? 'error')})`,
        fix: "Give the agent's user access to the folder and its parents.",
      });
      return checks;
    }
  }
  if (!exists) {
    // mkdir -p: the nearest existing ancestor must be writable.
    let parent = dirname(folder);
    while (
      parent !== dirname(parent) &&
      !(await stat(parent).then(
        () => true,
        () => false,
      ))
    )
      parent = dirname(parent);
    checks.push(
      (await canWrite(parent))
        ? {
            id: 'folder',
            status: 'warn',
            summary: `${folder} does not exist yet; the agent creates it at its first start, empty`,
            fix: 'Check directory.path: an existing directory is expected once users were added.',
          }
        : {
            id: 'folder',
            status: 'fail',
            summary: `${folder} does not exist and ${parent} is not writable, so it cannot be created`,
            fix: `Create ${folder} and give it to the agent's user (chmod 700).`,
          },
    );
  } else {
    const files = [SNAPSHOT_FILE, JOURNAL_FILE].map((f) => join(folder, f));
    const notWritable: string[] = [];
    if (!(await canWrite(folder))) notWritable.push(folder);
    for (const f of files) {
      const present = await stat(f).then(
        () => true,
        () => false,
      );
      if (
        present &&
        !(await access(f, fsc.W_OK).then(
          () => true,
          () => false,
        ))
      )
        notWritable.push(f);
    }
    checks.push(
      notWritable.length === 0
        ? { id: 'folder', status: 'pass', summary: `${folder} is writable` }
        : {
            id: 'folder',
            status: 'fail',
            summary: `not writable by this user: ${notWritable.join(', ')}`,
            fix: "Run the doctor as the agent's user; give that user the folder and its files (chown -R, chmod 700).",
          },
    );
  }

  // Store: read back without opening.
  let state: DirectoryState | null = null;
  if (exists) {
    const holder = await lockHolder(folder);
    const rb = await readBack(folder);
    if (!rb.ok) {
      checks.push({ id: 'store', status: 'fail', summary: `store does not read back: ${rb.summary}`, fix: rb.fix });
    } else {
      state = rb.state;
      const by =
        holder === null
          ? ''
          : holder === process.pid
            ? '; open in this process'
            : `; in use by process ${holder} (the agent daemon?)`;
      checks.push({
        id: 'store',
        status: 'pass',
        summary: `store reads back: ${state.users.size} user(s), change #${state.seq}${by}`,
      });
    }
  }

  const std = HASH_COST.standard;
  const cost = cfg.hash.N * cfg.hash.r * cfg.hash.p;
  checks.push(
    cost >= std.N * std.r * std.p
      ? {
          id: 'hash_cost',
          status: 'pass',
          summary: `password hashes: scrypt N=${cfg.hash.N} r=${cfg.hash.r} p=${cfg.hash.p}`,
        }
      : {
          id: 'hash_cost',
          status: 'warn',
          summary: `password hash cost is below the standard one (scrypt N=${cfg.hash.N} r=${cfg.hash.r} p=${cfg.hash.p}): a stolen store is cheap to crack`,
          fix: 'Remove "hash" from the directory configuration (the standard cost is the default); only tests and benchmarks need a lower one.',
        },
  );

  // The policy in force once the agent has opened the store: stored default, then the configured fields.
  const stored: PasswordPolicy = state?.defaultPolicy ?? { ...DEFAULT_POLICY };
  const policy = mergePolicy(stored, cfg.policy);
  checks.push(
    policy.minAgeSeconds > 0
      ? {
          id: 'min_age',
          status: 'warn',
          summary: `minimum password age is ${formatSeconds(policy.minAgeSeconds)}: a user who just changed their password cannot change it again before then (min_age); admin resets are not limited`,
          fix: 'Keep it to stop users cycling through the history (AD does the same); set policy.minAgeSeconds: 0 when users must be able to change twice in a row (demos, tests).',
        }
      : { id: 'min_age', status: 'pass', summary: 'no minimum password age' },
  );

  if (state) {
    const users = [...state.users.values()];
    checks.push(
      users.length > 0
        ? {
            id: 'users',
            status: 'pass',
            summary: `${users.length} user(s), ${users.filter((u) => !u.enabled).length} disabled`,
          }
        : {
            id: 'users',
            status: 'warn',
            summary: 'no users: every request will answer user_not_found',
            fix: 'Add users (EmbeddedDirectory.createUser) before writing back to them.',
          },
    );
    const prot = users.filter((u) => u.protected);
    checks.push(
      prot.length === 0
        ? { id: 'protected_accounts', status: 'pass', summary: 'no protected accounts' }
        : cfg.allowProtected
          ? {
              id: 'protected_accounts',
              status: 'warn',
              summary: `${prot.length} protected account(s) and allowProtected is on: their passwords can be reset from the cloud`,
              fix: 'Turn allowProtected off unless privileged accounts must be managed through writeback.',
            }
          : {
              id: 'protected_accounts',
              status: 'pass',
              summary: `${prot.length} protected account(s) (e.g. ${prot[0]?.login ?? '?'}); writes to them are refused (protected_account)`,
            },
    );
  }
  return checks;
}
