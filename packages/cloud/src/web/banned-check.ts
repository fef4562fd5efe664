/**
 * The common/breached password check made before a password is sent to the agent (the list and
 * its matching live in policy/banned.ts, shared with the admin pages). A password built on the
 * user's own name is reported with the directory's own reason, `contains_user_name`.
 */
import type { PolicyReason } from '@writeback/protocol';
import { checkBanned } from '../policy/banned.js';

export function bannedReason(
  password: string,
  ctx: { login: string; displayName: string | null },
): PolicyReason | null {
  const r = checkBanned(password, { login: ctx.login, displayName: ctx.displayName });
  if (!r.banned) return null;
  return r.rule === 'user_name' ? 'contains_user_name' : 'banned';
}
