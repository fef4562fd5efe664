/**
 * What a user has registered to prove who they are (read from the user_methods repository and
 * given meaning here), which of the tenant's methods that covers, and the check every
 * registration page starts with (the tenant offers the method).
 */
import { z } from 'zod';
import { CloudError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Db } from '../../store/index.js';
import { METHOD_KINDS, userMethodRepository, type MethodKind } from '../../store/user-methods.js';
import { getTenantSettings } from '../../tenants/settings.js';

export { METHOD_KINDS, type MethodKind };

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

export interface StoredAnswer {
  id: QuestionId;
  /** scrypt hash of the normalised answer. */
  hash: string;
}

export interface RegisteredMethods {
  email: string | null;
  sms: string | null;
  totp: { sealed: string; lastStep: number | null } | null;
  questions: StoredAnswer[] | null;
}

const QuestionsValue = z.array(z.object({ id: QuestionIdSchema, hash: z.string() })).length(QUESTIONS_REQUIRED);

function parseQuestions(value: string): StoredAnswer[] | null {
  try {
    const q = QuestionsValue.safeParse(JSON.parse(value));
    return q.success ? q.data : null;
  } catch {
    return null;
  }
}

/** The user's registered methods (a user with none, or an unknown key, has all null). */
export async function getMethods(db: Db, tenantId: string, userKey: string): Promise<RegisteredMethods> {
  const out: RegisteredMethods = { email: null, sms: null, totp: null, questions: null };
  for (const r of await userMethodRepository(db).list(tenantId, userKey)) {
    if (r.kind === 'email') out.email = r.value;
    else if (r.kind === 'sms') out.sms = r.value;
    else if (r.kind === 'totp') out.totp = { sealed: r.value, lastStep: r.lastStep };
    else out.questions = parseQuestions(r.value);
  }
  return out;
}

/** Which of the tenant's allowed methods this user has set up (the directory's mail counts as email). */
export function registeredKinds(
  m: RegisteredMethods,
  allowed: readonly MethodKind[],
  directoryMail: string | null,
): MethodKind[] {
  const has: Record<MethodKind, boolean> = {
    email: (m.email ?? directoryMail) !== null,
    sms: m.sms !== null,
    totp: m.totp !== null,
    questions: m.questions !== null,
  };
  return allowed.filter((k) => has[k]);
}

/** The tenant offers this method (self-service on, method allowed), or `not_found`. */
export async function assertOffered(services: Services, tenantId: string, kind: MethodKind): Promise<void> {
  const settings = await getTenantSettings(services.db, tenantId);
  if (!settings.sspr.enabled || !settings.sspr.methods.includes(kind))
    throw new CloudError('not_found', 'this method is not offered');
}

/** How many more methods the tenant requires this user to register before anything else (0: none). */
export async function registrationMissing(
  services: Services,
  tenantId: string,
  user: { key: string; mail: string | null },
): Promise<number> {
  const settings = await getTenantSettings(services.db, tenantId);
  if (!settings.sspr.enabled || !settings.sspr.requireRegistration) return 0;
  const have = registeredKinds(await getMethods(services.db, tenantId, user.key), settings.sspr.methods, user.mail);
  return Math.max(0, settings.sspr.required - have.length);
}
