/**
 * The one pipeline of a directory write, for both LDAP adapters: on one service connection, find
 * the user, refuse what must not be written, pre-check the new password against the policy that
 * can be read, then write once and classify the server's answer. A pass-through sign-in
 * (credentials.verify) runs the same steps without the pre-check, its "write" a bind as the user. The order is fixed here; what
 * each step means on a given server (AD: tokenGroups, unicodePwd, 0000052D...; OpenLDAP: group
 * membership, Password Modify, the ppolicy control...) is the adapter's driver.
 *
 * The first step that has an answer ends the operation. How a connection is lent, and what a
 * failure before the write or after it becomes (directory_unavailable, retried on a new
 * connection; outcome_unknown, never retried), is the driver's `run`.
 */
import type { OperationResult, UserRef } from '@writeback/protocol';
import type { ResetOptions } from '../directory.js';

export type WriteOperation = 'reset' | 'change' | 'unlock' | 'verify';

/** A step's verdict: the answer that ends the operation, or null to go on. */
export type Verdict = OperationResult | null;

/** What an adapter supplies for each step; `C` is its connection, `U` a user as it reads one. */
export interface WriteDriver<C, U> {
  /** Runs the steps on a lent connection, mapping failures to outcomes. */
  run(op: string, ref: UserRef, steps: (conn: C) => Promise<OperationResult>): Promise<OperationResult>;
  /** The one user `ref` names, or the answer (user_not_found, ambiguous_user). */
  find(conn: C, ref: UserRef, op: WriteOperation): Promise<{ user: U } | { answer: OperationResult }>;
  /** Accounts never written (protected, disabled) and, per operation, states that end it (locked). */
  refuse(conn: C, user: U, op: WriteOperation): Promise<Verdict>;
  /** The new password against the user's effective policy, before anything is sent. */
  precheck(conn: C, user: U, newPassword: string, op: 'reset' | 'change'): Promise<Verdict>;
  /** The write itself and the classification of its answer. */
  reset(conn: C, user: U, newPassword: string, options: ResetOptions): Promise<OperationResult>;
  change(conn: C, user: U, currentPassword: string, newPassword: string): Promise<OperationResult>;
  unlock(conn: C, user: U): Promise<OperationResult>;
  /** The user's bind with `password`, classified (wrong password, locked, must change...). */
  verify(conn: C, user: U, password: string): Promise<OperationResult>;
}

/** Reset `ref`'s password through `d`'s steps. */
export function resetThrough<C, U>(
  d: WriteDriver<C, U>,
  ref: UserRef,
  newPassword: string,
  options: ResetOptions,
): Promise<OperationResult> {
  return d.run('password.reset', ref, async (conn) => {
    const found = await d.find(conn, ref, 'reset');
    if ('answer' in found) return found.answer;
    const { user } = found;
    return (
      (await d.refuse(conn, user, 'reset')) ??
      (await d.precheck(conn, user, newPassword, 'reset')) ??
      d.reset(conn, user, newPassword, options)
    );
  });
}

/**
 * Change `ref`'s password through `d`'s steps. `screen`: an answer decided from the input alone,
 * on the connection before any read (OpenLDAP: an empty current password would bind anonymously).
 */
export function changeThrough<C, U>(
  d: WriteDriver<C, U>,
  ref: UserRef,
  currentPassword: string,
  newPassword: string,
  screen: () => Verdict = () => null,
): Promise<OperationResult> {
  return d.run('password.change', ref, async (conn) => {
    const early = screen();
    if (early) return early;
    const found = await d.find(conn, ref, 'change');
    if ('answer' in found) return found.answer;
    const { user } = found;
    return (
      (await d.refuse(conn, user, 'change')) ??
      (await d.precheck(conn, user, newPassword, 'change')) ??
      d.change(conn, user, currentPassword, newPassword)
    );
  });
}

/** Unlock `ref`'s account through `d`'s steps. */
export function unlockThrough<C, U>(d: WriteDriver<C, U>, ref: UserRef): Promise<OperationResult> {
  return d.run('account.unlock', ref, async (conn) => {
    const found = await d.find(conn, ref, 'unlock');
    if ('answer' in found) return found.answer;
    return (await d.refuse(conn, found.user, 'unlock')) ?? d.unlock(conn, found.user);
  });
}

/**
 * Check `ref`'s password (pass-through sign-in) through `d`'s steps. `screen`: an answer from the
 * input alone (an empty password would make the bind anonymous, which "succeeds").
 */
export function verifyThrough<C, U>(
  d: WriteDriver<C, U>,
  ref: UserRef,
  password: string,
  screen: () => Verdict,
): Promise<OperationResult> {
  return d.run('credentials.verify', ref, async (conn) => {
    const early = screen();
    if (early) return early;
    const found = await d.find(conn, ref, 'verify');
    if ('answer' in found) return found.answer;
    return (await d.refuse(conn, found.user, 'verify')) ?? d.verify(conn, found.user, password);
  });
}
