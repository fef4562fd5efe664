/** Public surface of @writeback/cloud: createCloud and the pieces other packages and tests use. */
export { createCloud, type Cloud, type CloudDeps, type BootstrapOptions, type BootstrapResult } from './app.js';
export {
  loadConfig,
  configWarnings,
  type CloudConfig,
  type CloudConfigInput,
  type LoadConfigOptions,
} from './config.js';
export { CloudError, CLOUD_ERROR_CODES, CLOUD_ERROR_HTTP_STATUS, type CloudErrorCode } from './errors.js';
export { stderrLogSink, useStderrLogging } from './log-sink.js';
export { openStore, migrate, MIGRATIONS, type Db, type OpenStoreOptions } from './store/index.js';
export {
  createWritebackService,
  type WritebackService,
  type WritebackDeps,
  type ExecuteInput,
  type ExecuteResult,
} from './writeback/service.js';
export { generatePassword } from './writeback/password-generator.js';
export { outcomeMessage, reasonMessage } from './outcomes/messages.js';
export { outcomeAnswer, OutcomeBodySchema, type OutcomeBody } from './outcomes/http.js';
export { buildOpenApi } from './http/openapi.js';
export type { Actor, Principal } from './auth/principal.js';
export type { AuditRecord } from './audit/audit.js';
export {
  createSyncEngine,
  readSyncStatus,
  type SyncEngine,
  type SyncPhase,
  type SyncStatus,
  type SyncRunResult,
} from './sync/engine.js';
export {
  getTenantSettings,
  updateTenantSettings,
  TenantSettingsSchema,
  type TenantSettings,
  type DeepPartial,
} from './tenants/settings.js';
export { findUserByLogin, getUserById, listUsers, type CloudUser } from './users/directory-users.js';
export { signInUser, type SignInOutcome, type SignInResult } from './usecases/user-sign-in.js';
export type { Mailer, MailMessage, SmsMessage, SmsProvider } from './mail/mailer.js';
