/**
 * Security questions: three distinct ones of a fixed list, answers of at least three characters,
 * normalised (NFKC, lower case, letters and digits only) and hashed with scrypt like passwords.
 * The check (used by the recovery strategy) always verifies all three, so the time does not say
 * which answer failed.
 */
import { hashPassword, verifyPassword } from '../../auth/passwords.js';
import type { Services } from '../../services.js';
import { userMethodRepository } from '../../store/user-methods.js';
import { notifyMethodChange } from '../notify.js';
import { methodChangeRefusalFor, type MethodChange, type MethodChangeRefusal } from './reauth.js';
import { getMethods, QUESTIONS_REQUIRED, type QuestionId, type StoredAnswer } from './registered.js';

/** Answers compare after NFKC, lower case, and keeping only letters and digits (single spaces). */
export function normaliseAnswer(answer: string): string {
  return answer
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Every answer must match (all are checked). */
export async function checkAnswers(
  stored: readonly StoredAnswer[],
  answers: ReadonlyMap<QuestionId, string>,
): Promise<boolean> {
  const results = await Promise.all(
    stored.map((q) => verifyPassword(normaliseAnswer(answers.get(q.id) ?? ''), q.hash)),
  );
  return results.length === QUESTIONS_REQUIRED && results.every(Boolean);
}

export type RegisterQuestionsResult =
  | { ok: true }
  | { ok: false; problem: 'questions_not_distinct' | 'answer_too_short' | MethodChangeRefusal };

/** Store three answered questions (a recent proof of the password needed: reauth.ts). */
export async function registerQuestions(
  services: Services,
  o: MethodChange & { answers: readonly { id: QuestionId; answer: string }[] },
): Promise<RegisterQuestionsResult> {
  const refused = await methodChangeRefusalFor(services, o.tenantId, 'questions', o.session);
  if (refused) return { ok: false, problem: refused };
  if (o.answers.length !== QUESTIONS_REQUIRED || new Set(o.answers.map((a) => a.id)).size !== QUESTIONS_REQUIRED)
    return { ok: false, problem: 'questions_not_distinct' };
  if (o.answers.some((a) => a.answer.trim().length < 3)) return { ok: false, problem: 'answer_too_short' };
  const value = await Promise.all(
    o.answers.map(async ({ id, answer }) => ({ id, hash: await hashPassword(normaliseAnswer(answer)) })),
  );
  const before = await getMethods(services.db, o.tenantId, o.user.key);
  await userMethodRepository(services.db).put(
    o.tenantId,
    o.user.key,
    { kind: 'questions', value: JSON.stringify(value), lastStep: null },
    services.now(),
  );
  notifyMethodChange(services, { tenantId: o.tenantId, person: o.user, kind: 'questions', before });
  return { ok: true };
}
