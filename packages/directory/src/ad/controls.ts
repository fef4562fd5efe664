/**
 * LDAP_SERVER_POLICY_HINTS: asks a DC to apply password history (and minimum age) to an admin
 * reset. Windows Server 2016+ advertises 1.2.840.113556.1.4.2239; 2008 R2 SP1-2012 R2 with the
 * hotfix advertise the deprecated 1.2.840.113556.1.4.2066. Samba 4.17 supports neither (its
 * rootDSE lists neither; sent critical it answers 12, non-critical it is ignored).
 *
 * What a reset will be held to is decided here once, from the DC's rootDSE, so the reset itself,
 * the capabilities, policy.get's data and the doctor all say the same thing (issue 12).
 */
import { BerWriter, Control } from 'ldapts';
import type { RootDse } from '../ldap/root-dse.js';

export const POLICY_HINTS_OID = '1.2.840.113556.1.4.2239';
export const POLICY_HINTS_DEPRECATED_OID = '1.2.840.113556.1.4.2066';

/** The control, sent critical so a DC that would ignore it refuses the write instead. */
export class PolicyHintsControl extends Control {
  constructor(oid: string) {
    super(oid, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    // PolicyHintsRequestValue ::= SEQUENCE { Flags INTEGER } with flag 1 = enforce policy.
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(1);
    value.endSequence();
    // controlValue is an OCTET STRING wrapping the BER value.
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** What an admin reset that asks for history (`enforceHistory`, the default) is held to on one DC. */
export interface ResetHints {
  /** The policy-hints OID such a reset carries; undefined: none is sent (history not enforced). */
  oid: string | undefined;
  /**
   * Such a reset is also refused inside the user's minimum password age. Windows Server 2016+ (…2239)
   * applies the minimum age as well as history to a reset that carries the control (issue 12);
   * the same is assumed for the deprecated …2066. Without the control a reset is bound by neither.
   * Not observed here (no Windows DC); Samba advertises neither, so it never gets the control.
   */
  honoursMinAge: boolean;
}

/** The control an admin reset on this DC will carry, and what follows from it. */
export function resetHintsFor(root: RootDse | undefined, policyHints: 'auto' | 'off'): ResetHints {
  if (policyHints === 'off' || root === undefined) return { oid: undefined, honoursMinAge: false };
  const oid = root.supportedControl.includes(POLICY_HINTS_OID)
    ? POLICY_HINTS_OID
    : root.supportedControl.includes(POLICY_HINTS_DEPRECATED_OID)
      ? POLICY_HINTS_DEPRECATED_OID
      : undefined;
  return { oid, honoursMinAge: oid !== undefined };
}
