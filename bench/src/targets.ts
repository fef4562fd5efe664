/**
 * The directories a benchmark can run against: the embedded one (always), and the real Samba AD
 * DC and slapd from the test lab (when their Debian packages are installed).
 *
 * The lab servers come from `@writeback/testkit/lab`, imported only when asked for (they install
 * exit hooks). Each target
 * returns the adapter configuration the bench uses twice: straight in this process, and written into
 * the agent's state file for the agent process, so everything it names (CA file, service password
 * file) is an absolute path that process can read.
 */
import { join } from 'node:path';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import type { Logger } from '@writeback/protocol';
import { TEST_POLICY } from '@writeback/testkit';

export interface DirectoryTarget {
  describe: string;
  /** Adapter configuration (also written into the agent's state). */
  config: Record<string, unknown>;
  /** Logins of users the benchmark may reset. */
  users: string[];
  /** Requests for the throughput phase (slow directories get fewer). */
  throughputTotal(requested: number): number;
  /** Workers of the throughput phase (a directory that serialises writes gets fewer). */
  throughputConcurrency(requested: number): number;
  stop(): Promise<void>;
}

export type TargetKind = 'embedded' | 'ad' | 'openldap';

export interface TargetOptions {
  /** Scratch folder of this run (removed by the caller after stop()). */
  dir: string;
  users: number;
  log: Logger;
  hash?: { N: number; r: number; p: number };
}

/** Meets every lab policy: Samba complexity (3 of 4 classes, no account name), slapd length 8. */
const INITIAL = 'Initial-Bench-Pass-1!';

/**
 * Samba serialises password writes in one process (`-M single`) at about 35 ms each, so the
 * throughput phase is capped to keep a run near a minute.
 */
export const SAMBA_THROUGHPUT_CAP = 300;
/**
 * Workers against Samba: the adapter's pool (4 connections) plus as many waiting. More only queue
 * in the pool, and on a busy machine a queue of 32 × 35 ms passes the adapter's 5 s pool timeout
 * (`directory_unavailable`), which measures the queue, not the path.
 */
export const SAMBA_CONCURRENCY_CAP = 8;

/** Start the directory `kind` with `users` bench users holding an initial password. */
export async function startDirectoryTarget(kind: TargetKind, o: TargetOptions): Promise<DirectoryTarget> {
  const logins = Array.from({ length: o.users }, (_, i) => `bench${String(i).padStart(4, '0')}`);
  switch (kind) {
    case 'embedded':
      return startEmbedded(logins, o);
    case 'ad':
      return startAd(logins, o);
    case 'openldap':
      return startOpenLdap(logins, o);
  }
}

async function startEmbedded(logins: string[], o: TargetOptions): Promise<DirectoryTarget> {
  const hash = o.hash ?? { ...HASH_COST.fast };
  const config = {
    kind: 'embedded',
    path: join(o.dir, 'directory'),
    hash,
    // The tests' policy, with a long history (its check is the cost measured) and no lockout.
    policy: { ...TEST_POLICY, historyLength: 24, lockoutThreshold: 0 },
  };
  const d = await openEmbeddedDirectory({ ...config, kind: 'embedded' }, { log: o.log });
  for (const login of logins) await d.createUser({ login, password: INITIAL });
  await d.close();
  return {
    describe: `embedded (scrypt N=${hash.N} r=${hash.r} p=${hash.p}, history 24 enforced on reset: 2 scrypt derivations per reset)`,
    config,
    users: logins,
    throughputTotal: (n) => n,
    throughputConcurrency: (c) => c,
    stop: async () => {},
  };
}

/** Run `fn` over `items`, `width` at a time (user creation: the servers are single-threaded anyway). */
async function eachLimited<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
    }),
  );
}

async function startAd(logins: string[], o: TargetOptions): Promise<DirectoryTarget> {
  const { sambaDirectoryConfig, startSambaDc } = await import('@writeback/testkit/lab');
  const dc = await startSambaDc();
  try {
    await eachLimited(logins, 4, async (login) => {
      await dc.createUser({ login, password: INITIAL });
    });
    const config = await sambaDirectoryConfig(dc, o.dir);
    return {
      describe: `ad (Samba AD DC ${dc.host}, ldaps with the lab CA, delegated svc-writeback; Samba 4.17 has no policy hints: resets do not enforce history, so every password is unique anyway)`,
      config,
      users: logins,
      throughputTotal: (n) => Math.min(n, SAMBA_THROUGHPUT_CAP),
      throughputConcurrency: (c) => Math.min(c, SAMBA_CONCURRENCY_CAP),
      stop: () => dc.stop(),
    };
  } catch (err) {
    await dc.stop();
    throw err;
  }
}

async function startOpenLdap(logins: string[], o: TargetOptions): Promise<DirectoryTarget> {
  const { slapdDirectoryConfig, startSlapd } = await import('@writeback/testkit/lab');
  const lab = await startSlapd({ tls: true });
  try {
    await eachLimited(logins, 4, async (uid) => {
      await lab.addUser({ uid, password: INITIAL });
    });
    // `write` (not `manage`) on userPassword: slapd checks the policy on resets too, as in production.
    const config = await slapdDirectoryConfig(lab, o.dir);
    return {
      describe: `openldap (slapd ${lab.ldapsUrl}, ldaps with the lab CA, ppolicy history 3 enforced for the write-right service account)`,
      config,
      users: logins,
      throughputTotal: (n) => n,
      throughputConcurrency: (c) => c,
      stop: () => lab.stop(),
    };
  } catch (err) {
    await lab.stop();
    throw err;
  }
}
