/** Public surface of the Active Directory adapter. */
export { AdDirectory, openAdDirectory, type AdDirectoryDeps } from './ad-directory.js';
export { AdConfigSchema, resolveAdConfig, type AdConfig, type AdConfigInput, type ResolvedAdConfig } from './config.js';
export { adDoctorChecks, type AdDoctorDeps } from './doctor.js';
export { guidFromString, guidToString } from './guid.js';
export { POLICY_HINTS_DEPRECATED_OID, POLICY_HINTS_OID } from './controls.js';
