/**
 * What the email and text-message strategies share: choosing one makes a code (stored as a keyed
 * hash, owned by the flow), and starts sending it in the background to the user's address; the
 * answer is that code. Every user name gets the same work (a code made and stored, the same
 * look-ups); only an in-scope user with an address gets a message. A resend counts as an attempt
 * (it is also a way to flood someone's inbox).
 */
import { resolvePerson, type Person } from '../../person.js';
import { CodeInputSchema, checkCode, issueCode, sendCode } from '../../methods/codes.js';
import { getMethods, type RegisteredMethods } from '../../methods/registered.js';
import { countAttempt } from '../limits.js';
import type { RecoveryStrategy } from '../strategy.js';

export function codeStrategy(
  kind: 'email' | 'sms',
  addressOf: (m: RegisteredMethods, user: Person) => string | null,
): RecoveryStrategy {
  return {
    kind,
    async start({ services, tenantId, settings, clientIp }, flow) {
      await countAttempt(services, {
        tenantId,
        userKey: flow.userKey ?? flow.login.toLowerCase(),
        clientIp,
        perHour: settings.sspr.attemptsPerHour * 2,
      });
      const code = await issueCode(services, { tenantId, purpose: 'reset', owner: flow.id, channel: kind });
      // The same look-ups for every name; only an in-scope user gets an address.
      const m = await getMethods(services.db, tenantId, flow.userKey ?? flow.login.toLowerCase());
      const user = await resolvePerson(services, tenantId, flow.login);
      const to = flow.userKey ? addressOf(m, user) : null;
      if (to)
        sendCode(services, kind, to, code).catch((err: unknown) =>
          services.log.warn('could not send a reset code', { tenantId, channel: kind, err }),
        );
      return { state: 'sent_code' };
    },

    async verify({ services, tenantId }, flow, input) {
      const code = CodeInputSchema.safeParse(input.code);
      const check = code.success
        ? await checkCode(services, { tenantId, purpose: 'reset', owner: flow.id, code: code.data })
        : 'wrong';
      return check === 'ok' && flow.userKey !== null;
    },
  };
}
