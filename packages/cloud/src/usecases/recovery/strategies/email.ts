/** Recovery by a code sent by email: to the registered address, else the directory's `mail`. */
import { codeStrategy } from './code.js';

export const emailStrategy = codeStrategy('email', (m, user) => m.email ?? user.mail);
