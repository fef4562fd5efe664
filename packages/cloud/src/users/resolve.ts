/**
 * Which directory user an operation is about, once the tenant has synced: the login a caller gave
 * is looked up in the cloud's copy (login, UPN or mail) and the request names the user by its
 * immutable anchor, so a rename or a reused login on-premises can never redirect a write.
 *
 * - Before the tenant's first completed full sync: by login, as given (the directory decides).
 * - A login the copy does not know: one incremental sync (at most 5 s), then look again: a user
 *   created on-premises a moment ago is found; anyone else is `user_not_found` without a trip
 *   to the directory.
 * - A cloud-only user: `not_synced_user` (there is no directory account to write to).
 *
 * After a password write through the cloud succeeds, or the directory verifies a password at
 * sign-in, the cloud hash for cloud_hash sign-in is recorded here (off the answer's path; sign-in
 * waits for a pending one of the same user). Only
 * tenants whose sign-in mode is cloud_hash pay for it (one scrypt, ~40 ms of CPU a write); under
 * pass_through the stored hash is cleared instead, so a later switch back never trusts a stale one.
 */
import {
  resultData,
  type Logger,
  type OperationRequest,
  type OperationResult,
  type UserRef,
} from '@writeback/protocol';
import { hashPassword } from '../auth/passwords.js';
import type { Db } from '../store/index.js';
import { getTenantSettings } from '../tenants/settings.js';
import { findUserByLogin, getUserByAnchor, noteUserState, setCloudHash, type CloudUser } from './directory-users.js';

export type Resolution =
  | { kind: 'directory'; ref: UserRef; user: CloudUser | null }
  | { kind: 'not_found' }
  | { kind: 'cloud_only'; user: CloudUser };

export interface UserResolver {
  /**
   * Resolve the user a request names; requests without a user pass through unchanged. `known`: the
   * caller looked the user up already in this request (null: it found none), so the copy is not
   * asked again; undefined: look it up here.
   */
  resolve(tenantId: string, ref: UserRef, known?: CloudUser | null): Promise<Resolution>;
  /**
   * Record what a successful operation through the cloud changed (cloud hash, must-change, lock):
   * a write, or a password the directory verified at sign-in. Off the answer's path.
   */
  afterWrite(tenantId: string, user: CloudUser, request: OperationRequest, result: OperationResult): void;
  /** Wait for the hash of this user being recorded, if any. */
  settled(userId: string): Promise<void>;
  /** Wait for every pending record (shutdown). */
  drain(): Promise<void>;
}

/**
 * What the resolver needs of directory sync, given at wiring time (the sync engine has both): it
 * does not import the engine, which sends through the gateway that the writeback service (which
 * uses this resolver) sits on.
 */
export interface TenantSync {
  /** Whether the tenant completed a full sync (users then resolve through the cloud's copy). */
  hasSynced(tenantId: string): Promise<boolean>;
  /** Run an incremental sync of the tenant now (queued behind one in progress). */
  runOnce(tenantId: string): Promise<unknown>;
}

export interface ResolverDeps {
  db: Db;
  sync: TenantSync;
  now: () => number;
  log: Logger;
  /** Longest wait for the refresh sync of an unknown login. Default 5 000 ms. */
  refreshWaitMs?: number;
}

export function createUserResolver(deps: ResolverDeps): UserResolver {
  const { db, now, log } = deps;
  const pending = new Map<string, Promise<void>>();
  const refreshWaitMs = deps.refreshWaitMs ?? 5_000;

  async function refresh(tenantId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const wait = new Promise<void>((r) => {
      timer = setTimeout(r, refreshWaitMs);
    });
    try {
      await Promise.race([deps.sync.runOnce(tenantId).then(() => undefined), wait]);
    } catch (err) {
      log.warn('refresh sync for an unknown login failed', { tenantId, err });
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async resolve(tenantId, ref, known) {
      const knownLive = known === undefined ? undefined : known?.deletedAt === null ? known : null;
      if (!(await deps.sync.hasSynced(tenantId))) {
        // No synced rows yet, but cloud-only users may exist: they are never sent to the directory.
        const local =
          knownLive !== undefined
            ? knownLive
            : ref.by === 'login'
              ? await findUserByLogin(db, tenantId, ref.value)
              : null;
        return local?.source === 'cloud' ? { kind: 'cloud_only', user: local } : { kind: 'directory', ref, user: null };
      }
      const find = () =>
        ref.by === 'anchor'
          ? getUserByAnchor(db, tenantId, ref.value).then((u) => (u?.deletedAt === null ? u : null))
          : findUserByLogin(db, tenantId, ref.value);
      // A user the caller found is taken as found; one it did not find goes straight to the refresh.
      let user = knownLive !== undefined ? knownLive : await find();
      if (!user) {
        await refresh(tenantId);
        user = await find();
      }
      if (!user) return { kind: 'not_found' };
      if (user.source === 'cloud' || user.anchor === null) return { kind: 'cloud_only', user };
      return { kind: 'directory', ref: { by: 'anchor', value: user.anchor }, user };
    },
    afterWrite(tenantId, user, request, result) {
      if (result.outcome !== 'succeeded') return;
      const t = now();
      const job = async () => {
        const keepHash = async () => (await getTenantSettings(db, tenantId)).signIn.mode === 'cloud_hash';
        const cloudHash = async (password: string) =>
          (await keepHash()) ? hashPassword(password, { queueAlways: true }) : null;
        switch (request.op) {
          case 'password.reset': {
            // What the directory did, when it says (AD ignores a forced change for a password that
            // never expires); what was asked otherwise.
            const mustChange = resultData('password.reset', result)?.mustChange ?? request.params.forceChange;
            // A temporary password is changed at the next sign-in, through the directory: no hash for it.
            const hash = mustChange ? null : await cloudHash(request.secret.newPassword);
            await db.tx(async (tx) => {
              await setCloudHash(tx, tenantId, user.id, hash, new Date(now()).toISOString(), t);
              await noteUserState(
                tx,
                tenantId,
                user.id,
                { mustChange, ...(request.params.unlock ? { locked: false } : {}) },
                t,
              );
            });
            return;
          }
          case 'password.change': {
            const hash = await cloudHash(request.secret.newPassword);
            await db.tx(async (tx) => {
              await setCloudHash(tx, tenantId, user.id, hash, new Date(now()).toISOString(), t);
              await noteUserState(tx, tenantId, user.id, { mustChange: false, locked: false }, t);
            });
            return;
          }
          case 'account.unlock':
            await noteUserState(db, tenantId, user.id, { locked: false }, t);
            return;
          case 'credentials.verify': {
            // Sign-in through the directory accepted this password: under cloud_hash it is the
            // cloud hash from now on (not one the directory says must be changed: that is its own;
            // nor one whose answer's data does not parse: then we cannot tell).
            const d = resultData('credentials.verify', result);
            if (d === null || d.mustChange === true || d.expired === true || !(await keepHash())) return;
            await setCloudHash(
              db,
              tenantId,
              user.id,
              await hashPassword(request.secret.password, { queueAlways: true }),
              new Date(now()).toISOString(),
              t,
            );
            return;
          }
          default:
            return;
        }
      };
      const prev = pending.get(user.id) ?? Promise.resolve();
      const p = prev
        .then(job)
        .catch((err: unknown) =>
          log.error('could not record the cloud side of a write', { tenantId, userId: user.id, err }),
        );
      pending.set(user.id, p);
      void p.then(() => {
        if (pending.get(user.id) === p) pending.delete(user.id);
      });
    },
    async settled(userId) {
      await pending.get(userId);
    },
    async drain() {
      await Promise.allSettled([...pending.values()]);
    },
  };
}
