/**
 * The outcome vocabulary: the same codes travel in the protocol, the HTTP API, the UI, the audit log
 * and the docs (docs/outcomes.md; a test fails when a code is missing there).
 */
import { z } from 'zod';

export const OUTCOME_CODES = [
  'succeeded',
  'policy_violation',
  'wrong_current_password',
  'user_not_found',
  'ambiguous_user',
  'account_disabled',
  'account_locked',
  'protected_account',
  'access_denied',
  'directory_unavailable',
  'agent_unavailable',
  'request_rejected',
  'timeout',
  'outcome_unknown',
] as const;
export type OutcomeCode = (typeof OUTCOME_CODES)[number];
export const OutcomeCodeSchema = z.enum(OUTCOME_CODES);

export const POLICY_REASONS = [
  'too_short',
  'too_long',
  'complexity',
  'history',
  'min_age',
  'contains_user_name',
  'banned',
  'filter_rejected',
  'unspecified',
] as const;
export type PolicyReason = (typeof POLICY_REASONS)[number];
export const PolicyReasonSchema = z.enum(POLICY_REASONS);

/** One HTTP status per outcome code: the API never varies it. */
export const OUTCOME_HTTP_STATUS: Readonly<Record<OutcomeCode, number>> = Object.freeze({
  succeeded: 200,
  policy_violation: 422,
  wrong_current_password: 403,
  user_not_found: 404,
  ambiguous_user: 409,
  account_disabled: 403,
  account_locked: 423,
  protected_account: 403,
  access_denied: 502,
  directory_unavailable: 503,
  agent_unavailable: 503,
  request_rejected: 502,
  timeout: 504,
  outcome_unknown: 502,
});

/** Outcomes after which the directory was certainly not written. */
export const NOTHING_WRITTEN: ReadonlySet<OutcomeCode> = new Set<OutcomeCode>([
  'policy_violation',
  'wrong_current_password',
  'user_not_found',
  'ambiguous_user',
  'account_disabled',
  'account_locked',
  'protected_account',
  'access_denied',
  'directory_unavailable',
  'agent_unavailable',
  'request_rejected',
]);

/**
 * The effective password policy for one user, as the directory enforces it. Durations are seconds;
 * 0 means "no limit" for maxAgeSeconds and lockoutThreshold.
 */
export const EffectivePolicySchema = z.object({
  source: z.enum(['domain', 'fine_grained', 'ppolicy', 'embedded']),
  /** Name of the policy object (PSO name, ppolicy entry DN) when not the domain default. */
  name: z.string().max(512).optional(),
  minLength: z.number().int().min(0),
  maxLength: z.number().int().min(0).optional(),
  complexity: z.boolean(),
  historyLength: z.number().int().min(0),
  minAgeSeconds: z.number().min(0),
  maxAgeSeconds: z.number().min(0),
  lockoutThreshold: z.number().int().min(0),
  lockoutDurationSeconds: z.number().min(0),
  /** ISO time the user's password was last set (null: never / must change). */
  passwordLastSetAt: z.string().nullable().optional(),
  /** ISO time from which a user change is allowed by the minimum age (absent: now). */
  nextChangeAllowedAt: z.string().nullable().optional(),
  /** ISO time the password expires (absent or null: never). */
  expiresAt: z.string().nullable().optional(),
});
export type EffectivePolicy = z.infer<typeof EffectivePolicySchema>;

/** What the directory reported back about one operation. Never contains a password. */
export const OperationResultSchema = z.object({
  outcome: OutcomeCodeSchema,
  reasons: z.array(PolicyReasonSchema).max(16).optional(),
  policy: EffectivePolicySchema.optional(),
  /** A safe, human-readable detail (never the raw directory diagnostic, never a password). */
  detail: z.string().max(1024).optional(),
  /** For resets asked to enforce history: whether the directory could enforce it. */
  historyEnforced: z.boolean().optional(),
  /** For access_denied: the right the service account is missing. */
  missingRight: z.string().max(256).optional(),
  /** Operation-specific data (health, user info). Small and non-secret. */
  data: z.record(z.string(), z.unknown()).optional(),
});
export type OperationResult = z.infer<typeof OperationResultSchema>;
