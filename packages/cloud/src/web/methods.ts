/**
 * The ways a user proves who they are in a self-service reset, registered from My Account:
 * an email address and a mobile number (confirmed with a code), an authenticator app (TOTP key,
 * stored sealed; the last step used is kept to refuse replays) and security questions (three of a
 * fixed list; answers normalised, then hashed with scrypt like passwords).
 */
import { z } from 'zod';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import type { Services } from '../services.js';
import { parseRows, type Db } from '../store/index.js';
import { seal, unseal } from '../keys/sealing.js';

export const METHOD_KINDS = ['email', 'totp', 'questions', 'sms'] as const;
export type MethodKind = (typeof METHOD_KINDS)[number];

export const QUESTION_IDS = [
  'first_pet',
  'birth_city',
  'first_school',
  'childhood_friend',
  'first_car',
  'mother_maiden',
  'favourite_teacher',
  'first_job',
] as const;
export type QuestionId = (typeof QUESTION_IDS)[number];
export const QuestionIdSchema = z.enum(QUESTION_IDS);
export const QUESTIONS_REQUIRED = 3;

export interface RegisteredMethods {
  email: string | null;
  sms: string | null;
  totp: { sealed: string; lastStep: number | null } | null;
  questions: { id: QuestionId; hash: string }[] | null;
}

const Row = z.object({ kind: z.enum(METHOD_KINDS), value: z.string(), last_step: z.coerce.number().nullable() });
const QuestionsValue = z.array(z.object({ id: QuestionIdSchema, hash: z.string() })).length(QUESTIONS_REQUIRED);

export async function getMethods(db: Db, tenantId: string, userKey: string): Promise<RegisteredMethods> {
  const rows = parseRows(
    Row,
    await db.query('SELECT kind, value, last_step FROM user_methods WHERE tenant_id = ? AND user_key = ?', [
      tenantId,
      userKey,
    ]),
  );
  const out: RegisteredMethods = { email: null, sms: null, totp: null, questions: null };
  for (const r of rows) {
    if (r.kind === 'email') out.email = r.value;
    else if (r.kind === 'sms') out.sms = r.value;
    else if (r.kind === 'totp') out.totp = { sealed: r.value, lastStep: r.last_step };
    else {
      try {
        const q = QuestionsValue.safeParse(JSON.parse(r.value));
        if (q.success) out.questions = q.data;
      } catch {
        out.questions = null;
      }
    }
  }
  return out;
}

/** How many of the tenant's allowed methods this user has set up (the directory's mail counts as email). */
export function registeredKinds(
  m: RegisteredMethods,
  allowed: readonly MethodKind[],
  directoryMail: string | null,
): MethodKind[] {
  return allowed.filter((k) =>
    k === 'email'
      ? (m.email ?? directoryMail) !== null
      : k === 'sms'
        ? m.sms !== null
        : k === 'totp'
          ? m.totp !== null
          : m.questions !== null,
  );
}

async function put(
  db: Db,
  tenantId: string,
  userKey: string,
  kind: MethodKind,
  value: string,
  lastStep: number | null,
  now: number,
): Promise<void> {
  await db.tx(async (t) => {
    const { changes } = await t.exec(
      'UPDATE user_methods SET value = ?, last_step = ?, updated_at = ? WHERE tenant_id = ? AND user_key = ? AND kind = ?',
      [value, lastStep, now, tenantId, userKey, kind],
    );
    if (changes === 0) {
      await t.exec(
        'INSERT INTO user_methods (tenant_id, user_key, kind, value, last_step, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [tenantId, userKey, kind, value, lastStep, now, now],
      );
    }
  });
}

export const setEmail = (db: Db, tenantId: string, userKey: string, address: string, now: number) =>
  put(db, tenantId, userKey, 'email', address, null, now);
export const setSms = (db: Db, tenantId: string, userKey: string, number: string, now: number) =>
  put(db, tenantId, userKey, 'sms', number, null, now);

const totpContext = (tenantId: string, userKey: string): string => `totp|${tenantId}|${userKey}`;

export function sealTotpSecret(services: Services, tenantId: string, userKey: string, secret: string): string {
  return seal(services.cloudKey.privateKey, secret, totpContext(tenantId, userKey));
}

export function openTotpSecret(services: Services, tenantId: string, userKey: string, sealed: string): string | null {
  return unseal(services.cloudKey.privateKey, sealed, totpContext(tenantId, userKey));
}

/** Store a confirmed TOTP key; `step` is the step of the code that confirmed it (no reuse). */
export async function setTotp(
  services: Services,
  tenantId: string,
  userKey: string,
  secret: string,
  step: number,
): Promise<void> {
  await put(
    services.db,
    tenantId,
    userKey,
    'totp',
    sealTotpSecret(services, tenantId, userKey, secret),
    step,
    services.now(),
  );
}

/**
 * Record that a TOTP step was used, only if it is newer than the last one (atomic): false means
 * the code was already used (replay) and must be refused.
 */
export async function claimTotpStep(db: Db, tenantId: string, userKey: string, step: number): Promise<boolean> {
  const { changes } = await db.exec(
    "UPDATE user_methods SET last_step = ? WHERE tenant_id = ? AND user_key = ? AND kind = 'totp' AND (last_step IS NULL OR last_step < ?)",
    [step, tenantId, userKey, step],
  );
  return changes === 1;
}

/** Answers compare after NFKC, lower case, and keeping only letters and digits (single spaces). */
export function normaliseAnswer(answer: string): string {
  return answer
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

export async function setQuestions(
  db: Db,
  tenantId: string,
  userKey: string,
  qa: readonly { id: QuestionId; answer: string }[],
  now: number,
): Promise<void> {
  const value = await Promise.all(
    qa.map(async ({ id, answer }) => ({ id, hash: await hashPassword(normaliseAnswer(answer)) })),
  );
  await put(db, tenantId, userKey, 'questions', JSON.stringify(value), null, now);
}

/** Every answer must match (all are checked, so the time does not say which one failed). */
export async function checkAnswers(
  stored: readonly { id: QuestionId; hash: string }[],
  answers: ReadonlyMap<QuestionId, string>,
): Promise<boolean> {
  const results = await Promise.all(
    stored.map((q) => verifyPassword(normaliseAnswer(answers.get(q.id) ?? ''), q.hash)),
  );
  return results.length === QUESTIONS_REQUIRED && results.every(Boolean);
}

export async function removeMethod(db: Db, tenantId: string, userKey: string, kind: MethodKind): Promise<void> {
  await db.exec('DELETE FROM user_methods WHERE tenant_id = ? AND user_key = ? AND kind = ?', [
    tenantId,
    userKey,
    kind,
  ]);
}
