/** Public surface of the OpenLDAP adapter. */
export { OpenLdapConfigSchema, parseOpenLdapConfig, isResolvedOpenLdapConfig, type OpenLdapConfig, type ResolvedOpenLdapConfig } from './config.js';
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
