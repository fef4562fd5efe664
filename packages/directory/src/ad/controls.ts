/**
 * LDAP_SERVER_POLICY_HINTS: asks a DC to apply password history (and minimum age) to an admin
 * reset. Windows Server 2016+ advertises 1.2.840.113556.1.4.2239; 2008 R2 SP1-2012 R2 with the
 * hotfix advertise the deprecated 1.2.840.113556.1.4.2066. Samba 4.17 supports neither.
 */
import { BerWriter, Control } from 'ldapts';

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
