/**
 * Recovery by security questions: the user's three questions, or for anyone else three fixed by
 * the name (so a reload, and a second flow, show the same and the questions do not tell who
 * registered). All three answers are checked every time; an unknown user's answers go through
 * the same scrypt work against a dummy hash.
 */
import { dummyPasswordHash, verifyPassword } from '../../../auth/passwords.js';
import { macOf } from '../../../keys/sealing.js';
import type { Services } from '../../../services.js';
import { checkAnswers } from '../../methods/questions.js';
import {
  getMethods,
  QUESTION_IDS,
  QuestionIdSchema,
  QUESTIONS_REQUIRED,
  type QuestionId,
} from '../../methods/registered.js';
import type { RecoveryFlow } from '../flow.js';
import type { RecoveryStrategy } from '../strategy.js';

/** The questions a flow asks. */
export async function questionsFor(services: Services, tenantId: string, flow: RecoveryFlow): Promise<QuestionId[]> {
  const kept = flow.questions.flatMap((q) => {
    const r = QuestionIdSchema.safeParse(q);
    return r.success ? [r.data] : [];
  });
  if (kept.length === QUESTIONS_REQUIRED) return kept;
  if (flow.userKey) {
    const m = await getMethods(services.db, tenantId, flow.userKey);
    if (m.questions) return m.questions.map((q) => q.id);
  }
  const seed = macOf(services.cloudKey.privateKey, `questions|${tenantId}|${flow.login.toLowerCase()}`);
  const pool = [...QUESTION_IDS];
  const out: QuestionId[] = [];
  for (let i = 0; out.length < QUESTIONS_REQUIRED; i++) {
    const idx = (seed.charCodeAt(i) ?? 0) % pool.length;
    const [q] = pool.splice(idx, 1);
    if (q) out.push(q);
  }
  return out;
}

export const questionsStrategy: RecoveryStrategy = {
  kind: 'questions',
  async start({ services, tenantId }, flow) {
    return { state: 'verifying', questions: await questionsFor(services, tenantId, { ...flow, questions: [] }) };
  },
  async verify({ services, tenantId }, flow, input) {
    const asked = await questionsFor(services, tenantId, flow);
    const answers = new Map<QuestionId, string>();
    for (const q of asked) {
      const v = input[`a_${q}`];
      if (typeof v === 'string') answers.set(q, v.slice(0, 128));
    }
    const found = await getMethods(services.db, tenantId, flow.userKey ?? flow.login.toLowerCase());
    if (flow.userKey && found.questions) return checkAnswers(found.questions, answers);
    // Same scrypt work as a real check.
    const dummy = await dummyPasswordHash();
    await Promise.all(asked.map((q) => verifyPassword(answers.get(q) ?? '', dummy)));
    return false;
  },
};
