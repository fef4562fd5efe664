/**
 * The outcome vocabulary: the same codes travel in the protocol, the HTTP API, the UI, the audit log
 * and the docs (docs/outcomes.md; a test fails when a code is missing there).
 */
import { z } from 'zod';

/**
 * Every outcome code once, with its HTTP status (the API never varies it) and whether the directory
 * was certainly not written when an operation ends with it (success, a timeout and an unknown
 * outcome may have written). A new code must say both.
 */
const OUTCOMES = {
  succeeded: { status: 200, nothingWritten: false },
  policy_violation: { status: 422, nothingWritten: true },
  wrong_current_password: { status: 403, nothingWritten: true },
  /**
   * Sign-in only: an unknown login or a wrong password, one answer for both (and for a locked or
   * disabled account before the password is proven). The cloud's code for the sign-in, which its
   * audit record also says (issue 12); no agent answers it.
   */
  invalid_credentials: { status: 401, nothingWritten: true },
  user_not_found: { status: 404, nothingWritten: true },
  ambiguous_user: { status: 409, nothingWritten: true },
  account_disabled: { status: 403, nothingWritten: true },
  account_locked: { status: 423, nothingWritten: true },
  protected_account: { status: 403, nothingWritten: true },
  access_denied: { status: 502, nothingWritten: true },
  directory_unavailable: { status: 503, nothingWritten: true },
  agent_unavailable: { status: 503, nothingWritten: true },
  request_rejected: { status: 502, nothingWritten: true },
  timeout: { status: 504, nothingWritten: false },
  outcome_unknown: { status: 502, nothingWritten: false },
} as const satisfies Record<string, { status: number; nothingWritten: boolean }>;

export type OutcomeCode = keyof typeof OUTCOMES;
/** The outcome codes, in the order of the table above. */
export const OUTCOME_CODES = Object.keys(OUTCOMES) as [OutcomeCode, ...OutcomeCode[]];
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
export const OUTCOME_HTTP_STATUS: Readonly<Record<OutcomeCode, number>> = Object.freeze(
  Object.fromEntries(OUTCOME_CODES.map((c) => [c, OUTCOMES[c].status])) as Record<OutcomeCode, number>,
);

/** Outcomes after which the directory was certainly not written. */
export const NOTHING_WRITTEN: ReadonlySet<OutcomeCode> = new Set(
  OUTCOME_CODES.filter((c) => OUTCOMES[c].nothingWritten),
);

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
  /**
   * With `account_locked`: the ISO time the lockout ends by itself; null when it lasts until an
   * administrator unlocks the account (a lockout duration of 0). Absent: not locked, or not known.
   */
  lockedUntil: z.string().nullable().optional(),
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
