/**
 * Public surface of the OpenLDAP adapter (slapd with the ppolicy overlay).
 *
 * What the directory needs (slapd 2.5; `svc` is the adapter's bindDn):
 *   olcOverlay: ppolicy with olcPPolicyDefault (= the adapter's defaultPolicyDn),
 *     olcPPolicyHashCleartext: TRUE (else slapd stores the cleartext it receives) and
 *     olcPPolicyUseLockout: TRUE (else a locked account looks like a wrong password);
 *   olcAccess: to attrs=userPassword by self write by dn.exact="svc" write by anonymous auth by * none
 *   olcAccess: to attrs=pwdReset,pwdAccountLockedTime by dn.exact="svc" manage by * read
 *   olcAccess: to * by dn.exact="svc" read ...   (users, groups, policy entries)
 * `write` (not `manage`) on userPassword makes slapd check resets like user changes (length,
 * history, minimum age): serviceAccountEnforcesPolicy: true. With `manage` every check is bypassed:
 * set serviceAccountEnforcesPolicy: false. `openLdapDoctorChecks` verifies all of this.
 */
export {
  OpenLdapConfigSchema,
  parseOpenLdapConfig,
  isResolvedOpenLdapConfig,
  type OpenLdapConfig,
  type ResolvedOpenLdapConfig,
} from './config.js';
export { OpenLdapDirectory, openOpenLdapDirectory, type OpenLdapDeps } from './openldap-directory.js';
export {
  PasswordPolicyControl,
  PPOLICY_CONTROL_OID,
  decodePasswordPolicyResponse,
  type PasswordPolicyResponse,
  type PpolicyError,
} from './ppolicy-control.js';
export { encodePasswordModifyRequest, PASSWORD_MODIFY_OID } from './password-modify.js';
export { PERMANENT_LOCK } from './policy.js';
export { openLdapDoctorChecks, type OpenLdapDoctorDeps } from './doctor.js';
