/**
 * `@writeback/testkit/lab`: the real directory servers of the test lab, on loopback, each in a
 * throwaway folder: a Samba AD DC (samba.ts; bulk data and delegations in samba-sync.ts) and an
 * OpenLDAP slapd with ppolicy (slapd.ts), the adapter configuration for each, whether their
 * programs are installed, and throwaway certificates made with openssl (pki.ts). It imports no
 * @writeback package, so the directory package's own tests use it as the whole-system tests and
 * the bench do.
 */
export {
  adPassword,
  guidToString,
  startSambaDc,
  type CreateUserOptions,
  type LabUser as SambaUser,
  type SambaDc,
  type StartSambaOptions,
} from './samba.js';
export * from './samba-sync.js';
export {
  escapeRdnValue,
  labPassword,
  startSlapd,
  type AddUserOptions,
  type LabUser as SlapdUser,
  type SlapdLab,
  type StartSlapdOptions,
} from './slapd.js';
export {
  sambaDirectoryConfig,
  sambaServiceConfig,
  slapdDirectoryConfig,
  writeSecretFile,
} from './directory-config.js';
export { missingPrograms } from './programs.js';
export {
  selfSignedCertificate,
  signedCertificate,
  type CertificateFiles,
  type CertificateOptions,
} from './pki.js';
