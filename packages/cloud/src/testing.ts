/**
 * `@writeback/cloud/testing`: internals that tests outside this package exercise directly (the
 * whole-system tests, the testkit). Not a stable API and not for applications: everything here can
 * change with the module it comes from. Applications use `@writeback/cloud`.
 */
export { insertPending, finishRecord, type PendingInput, type FinishInput } from './audit/audit.js';
export { totpCode } from './auth/totp.js';
export { hasMessage, t } from './i18n/index.js';
export type { MemoryMailer, MemorySmsProvider } from './mail/memory.js';
export { withDefaultUser } from './store/postgres.js';
export { createTenant, type Tenant } from './tenants/tenants.js';
export { csvCell, csvLine } from './web/admin/csv.js';
export { html, raw, revealInvisible, SafeHtml } from './web/html.js';
export { outcomeNotice, reasonText } from './web/outcome-text.js';
export { createWebSession, loadWebSession, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from './web/session.js';
