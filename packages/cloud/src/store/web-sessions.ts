/**
 * The web_sessions repository: the pages' signed-in sessions (end users and admins). A row holds
 * only the hash of the cookie's secret; what a session means (timeouts, rotation, cookies, the
 * constant-time comparison) is web/session.ts's. The one rule kept here is that a subject's sessions
 * can be ended all at once, which the use cases do after a password reset.
 */
import { z } from 'zod';
import { jsonColumn, rowOf, selectOne, type Db } from './db.js';

/** The kinds the table accepts (its CHECK constraint). */
export const WEB_SESSION_KINDS = ['user', 'admin'] as const;
export type WebSessionKind = (typeof WEB_SESSION_KINDS)[number];

/** Free-form, non-secret state of a session (each user of a key parses its own value). */
export type SessionData = Record<string, unknown>;

export interface WebSession {
  id: string;
  kind: WebSessionKind;
  tenantId: string;
  /** The signed-in subject: a cloud user id (or the login before the first sync), or an admin id. */
  subjectId: string;
  subjectLogin: string;
  csrfToken: string;
  data: SessionData;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

const DataSchema = z.record(z.string(), z.unknown());

const Sessions = rowOf({
  id: z.string(),
  secret_hash: z.string(),
  kind: z.enum(WEB_SESSION_KINDS),
  tenant_id: z.string(),
  subject_id: z.string(),
  subject_login: z.string(),
  csrf_token: z.string(),
  // Stored data that is not a JSON object reads as empty (the column is only written here).
  data: jsonColumn(DataSchema, () => ({})),
  created_at: z.coerce.number(),
  last_seen_at: z.coerce.number(),
  expires_at: z.coerce.number(),
});

const SessionRow = Sessions.schema.transform(
  ({ secretHash, ...session }): { session: WebSession; secretHash: string } => ({ session, secretHash }),
);

/** Store a new session with the hash of its secret. */
export async function insertWebSession(db: Db, session: WebSession, secretHash: string): Promise<void> {
  await db.exec(`INSERT INTO web_sessions (${Sessions.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    session.id,
    secretHash,
    session.kind,
    session.tenantId,
    session.subjectId,
    session.subjectLogin,
    session.csrfToken,
    JSON.stringify(session.data),
    session.createdAt,
    session.lastSeenAt,
    session.expiresAt,
  ]);
}

/** A session and its secret's hash by id, whatever its state (the caller checks kind and time). */
export async function getWebSession(
  db: Db,
  id: string,
): Promise<{ session: WebSession; secretHash: string } | undefined> {
  return selectOne(db, SessionRow, `SELECT ${Sessions.columns} FROM web_sessions WHERE id = ?`, [id]);
}

export async function touchWebSession(db: Db, id: string, lastSeenAt: number): Promise<void> {
  await db.exec('UPDATE web_sessions SET last_seen_at = ? WHERE id = ?', [lastSeenAt, id]);
}

export async function updateSessionData(db: Db, id: string, data: SessionData): Promise<void> {
  await db.exec('UPDATE web_sessions SET data = ? WHERE id = ?', [JSON.stringify(data), id]);
}

export async function deleteWebSession(db: Db, id: string): Promise<void> {
  await db.exec('DELETE FROM web_sessions WHERE id = ?', [id]);
}

/**
 * End every session of a subject, or of any of several subjects (one user may have sessions made
 * under its id and under its login), in one statement; the one named in `except` (the session
 * that made a change) keeps going. Returns how many ended.
 */
export async function deleteSubjectSessions(
  db: Db,
  tenantId: string,
  kind: WebSessionKind,
  subjects: string | readonly string[],
  except: string | null = null,
): Promise<number> {
  const ids = [...new Set(typeof subjects === 'string' ? [subjects] : subjects)];
  if (ids.length === 0) return 0;
  return (
    await db.exec(
      `DELETE FROM web_sessions WHERE tenant_id = ? AND kind = ? AND subject_id IN (${ids.map(() => '?').join(', ')}) AND id <> ?`,
      [tenantId, kind, ...ids, except ?? ''],
    )
  ).changes;
}

/** Delete sessions whose absolute end is at or before `now`, or last seen at or before `idleBefore`. */
export async function deleteExpiredWebSessions(db: Db, now: number, idleBefore: number): Promise<number> {
  return (await db.exec('DELETE FROM web_sessions WHERE expires_at <= ? OR last_seen_at <= ?', [now, idleBefore]))
    .changes;
}
