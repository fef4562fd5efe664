/**
 * Public surface of the embedded directory adapter. Names carry "Embedded" where a bare one could
 * collide with another adapter's through the package's `export *`.
 */
export {
  EmbeddedDirectory,
  openEmbeddedDirectory,
  type ChangesPage as EmbeddedChangesPage,
  type CreateUserInput as EmbeddedCreateUserInput,
  type DirectoryChange as EmbeddedDirectoryChange,
  type EmbeddedDeps,
  type EmbeddedUser,
  type UpdateUserPatch as EmbeddedUpdateUserPatch,
} from './embedded-directory.js';
export {
  EmbeddedConfigSchema,
  HASH_COST,
  parseEmbeddedConfig,
  PolicySettingsSchema as EmbeddedPolicySettingsSchema,
  type EmbeddedConfig,
  type HashCost as EmbeddedHashCost,
  type PolicySettings as EmbeddedPolicySettings,
  type ResolvedEmbeddedConfig,
} from './config.js';
export { DEFAULT_POLICY as EMBEDDED_DEFAULT_POLICY, type PasswordPolicy as EmbeddedPasswordPolicy } from './policy.js';
export { embeddedDoctorChecks, type EmbeddedDoctorDeps } from './doctor.js';
