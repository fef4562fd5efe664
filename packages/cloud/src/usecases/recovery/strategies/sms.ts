/** Recovery by a code sent by text message to the registered mobile number. */
import { codeStrategy } from './code.js';

export const smsStrategy = codeStrategy('sms', (m) => m.sms);
