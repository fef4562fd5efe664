/** The recovery strategies by method kind: adding a method is its file and its line here. */
import type { MethodKind } from '../../methods/registered.js';
import type { RecoveryStrategy } from '../strategy.js';
import { emailStrategy } from './email.js';
import { questionsStrategy } from './questions.js';
import { smsStrategy } from './sms.js';
import { totpStrategy } from './totp.js';

export const STRATEGIES: Readonly<Record<MethodKind, RecoveryStrategy>> = {
  email: emailStrategy,
  sms: smsStrategy,
  totp: totpStrategy,
  questions: questionsStrategy,
};
