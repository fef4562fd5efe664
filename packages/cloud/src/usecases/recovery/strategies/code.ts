/**
 * What the email and text-message strategies share: choosing one makes a code (stored as a keyed
 * hash, owned by the flow), and starts sending it in the background to the user's address; the
 * answer is that code. Every user name gets the same work (a code made and stored, the same
 * look-ups); only an in-scope user with an address gets a message, and only at a confirmed
 * address (the registered one: registration confirms it with a code) or the directory's mail. A
 * resend counts as an attempt (it is also a way to flood someone's inbox), and every message on
 * the tenant's daily send limits (methods/sends.ts): over them nothing is sent, and the answer is
 * the same as always (a limit must not tell whether the account exists or has an address).
 */
import { resolvePerson, type Person } from '../../person.js';
import { CodeInputSchema, checkCode, issueCode, sendCode } from '../../methods/codes.js';
import { getMethods, type RegisteredMethods } from '../../methods/registered.js';
import { takeRecoverySend } from '../../methods/sends.js';
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
      // In the background, budget included: the answer takes no longer for a user with an address.
      if (to)
        void (async () => {
          if (await takeRecoverySend(services, settings.sspr.sends, { tenantId, channel: kind }))
            await sendCode(services, kind, to, code);
          else
            services.log.warn("reset code not sent: the tenant's daily send limit is spent", {
              tenantId,
              channel: kind,
            });
        })().catch((err: unknown) =>
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
