/**
 * The operations the cloud asks an agent to execute. `params` are visible to the relay (and bound
 * into the envelope's associated data); `secret` is only ever carried encrypted to the agent's key.
 */
import { z } from 'zod';
import type { OperationResult } from './outcomes.js';
import { SyncAnchorsDataSchema, SyncAnchorsParamsSchema, SyncPullDataSchema, SyncPullParamsSchema } from './sync.js';

/** Longest login or anchor we accept anywhere. */
export const MAX_USER_REF_LENGTH = 256;
/** Longest password we carry (AD's own limit is 256 UTF-16 units). */
export const MAX_PASSWORD_LENGTH = 256;

/**
 * How the agent finds the user: by the directory's immutable anchor (AD objectGUID, LDAP
 * entryUUID, embedded id) or by login name (sAMAccountName / uid / userPrincipalName).
 */
export const UserRefSchema = z.discriminatedUnion('by', [
  z.object({ by: z.literal('anchor'), value: z.string().min(1).max(MAX_USER_REF_LENGTH) }),
  z.object({ by: z.literal('login'), value: z.string().min(1).max(MAX_USER_REF_LENGTH) }),
]);
export type UserRef = z.infer<typeof UserRefSchema>;

/** The issue code (zod `custom` issue, `params.code`) of a password with characters no directory can hold. */
export const INVALID_PASSWORD_CHARACTERS = 'invalid_password_characters';

/**
 * A NUL (C strings and LDAP servers cut there) or an unpaired UTF-16 surrogate (not a character:
 * UTF-8 encoding turns every one into U+FFFD, so two different ones would compare equal).
 */
const NOT_A_PASSWORD_CHARACTER = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `s` holds a character a password may not (see PasswordSchema). */
export const hasInvalidPasswordCharacters = (s: string): boolean => NOT_A_PASSWORD_CHARACTER.test(s);

/**
 * A password as every door carries it: API bodies, pages and the sealed secret the agent opens
 * share this schema, so each refuses the same characters with the same issue code
 * (`invalid_password_characters`, issue 10).
 */
export const PasswordSchema = z
  .string()
  .min(0)
  .max(MAX_PASSWORD_LENGTH)
  .refine((s) => !hasInvalidPasswordCharacters(s), {
    message: 'the password holds a NUL or an unpaired surrogate',
    params: { code: INVALID_PASSWORD_CHARACTERS },
  });

export const ResetParamsSchema = z.object({
  user: UserRefSchema,
  forceChange: z.boolean().default(false),
  unlock: z.boolean().default(false),
  enforceHistory: z.boolean().default(true),
});
export const ResetSecretSchema = z.object({ newPassword: PasswordSchema });

export const ChangeParamsSchema = z.object({ user: UserRefSchema });
export const ChangeSecretSchema = z.object({ currentPassword: PasswordSchema, newPassword: PasswordSchema });

export const UnlockParamsSchema = z.object({ user: UserRefSchema });
export const PolicyParamsSchema = z.object({ user: UserRefSchema.optional() });
export const VerifyParamsSchema = z.object({ user: UserRefSchema });
export const VerifySecretSchema = z.object({ password: PasswordSchema });
export const HealthParamsSchema = z.object({});

/** Per operation: its params schema and, when it carries one, its secret schema. */
export const OPERATION_SCHEMAS = {
  'password.reset': { params: ResetParamsSchema, secret: ResetSecretSchema, writes: true },
  'password.change': { params: ChangeParamsSchema, secret: ChangeSecretSchema, writes: true },
  'account.unlock': { params: UnlockParamsSchema, secret: null, writes: true },
  'policy.get': { params: PolicyParamsSchema, secret: null, writes: false },
  'credentials.verify': { params: VerifyParamsSchema, secret: VerifySecretSchema, writes: false },
  'sync.pull': { params: SyncPullParamsSchema, secret: null, writes: false },
  'sync.anchors': { params: SyncAnchorsParamsSchema, secret: null, writes: false },
  health: { params: HealthParamsSchema, secret: null, writes: false },
} as const;

export type OperationName = keyof typeof OPERATION_SCHEMAS;
/** Every operation, in the order of OPERATION_SCHEMAS (the one place that lists them). */
export const OPERATIONS = Object.keys(OPERATION_SCHEMAS) as [OperationName, ...OperationName[]];
export const OperationNameSchema = z.enum(OPERATIONS);

type SchemasOf<Op extends OperationName> = (typeof OPERATION_SCHEMAS)[Op];
/** The parsed params of one operation: `OperationParams<'password.reset'>`. */
export type OperationParams<Op extends OperationName> = z.infer<SchemasOf<Op>['params']>;
/** The secret part of a request: required for the operations that carry one, absent otherwise. */
type SecretPart<S> = S extends z.ZodType ? { secret: z.infer<S> } : { secret?: undefined };

/** A request as the cloud means it, before sealing: op, params and (optional) secret together. */
export type OperationRequest = {
  [Op in OperationName]: { op: Op; params: OperationParams<Op> } & SecretPart<SchemasOf<Op>['secret']>;
}[OperationName];

/*
 * What each operation answers in `result.data` when it succeeded. Adapters add what they know
 * (fields are optional where one adapter cannot tell); unknown fields are dropped on parsing.
 */

/** password.reset: the account flags as they stand after the write. */
export const ResetDataSchema = z.object({
  mustChange: z.boolean().optional(),
  /** AD: the reset also cleared the lockout (it was asked to). */
  unlocked: z.boolean().optional(),
  locked: z.boolean().optional(),
  /** OpenLDAP: the password is set, but a follow-up flag write failed (see result.detail). */
  followUpFailed: z.boolean().optional(),
  /**
   * forceChange was asked but the directory would not apply it, so it was not set (mustChange is
   * false): `password_never_expires`, AD's DONT_EXPIRE_PASSWD, which overrides pwdLastSet=0.
   */
  forceChangeIgnored: z.enum(['password_never_expires']).optional(),
});
/** password.change: nothing beyond the outcome. */
export const ChangeDataSchema = z.object({});
/** account.unlock: whether the account was locked before. */
export const UnlockDataSchema = z.object({ wasLocked: z.boolean().optional() });
/** policy.get: the policy itself is `result.policy` (EffectivePolicySchema); data says how resets meet it. */
export const PolicyDataSchema = z.object({
  /**
   * A reset that enforces history (the default) is also refused inside the minimum password age
   * (AD: the DC takes LDAP_SERVER_POLICY_HINTS, Windows Server 2016+). Absent: the adapter cannot
   * tell; pages then treat resets as not bound by the minimum age.
   */
  resetHonoursMinAge: z.boolean().optional(),
});
/** credentials.verify: the password is right, and what the directory says about it. */
export const VerifyDataSchema = z.object({
  mustChange: z.boolean().optional(),
  /** Expired (AD also reports must-change for it: expired is the more precise answer). */
  expired: z.boolean().optional(),
  /** OpenLDAP ppolicy: seconds until the password expires. */
  expiresInSeconds: z.number().min(0).optional(),
  /** OpenLDAP ppolicy: grace logins left on an expired password. */
  graceLoginsRemaining: z.number().int().min(0).optional(),
});
/** health: the directory as the agent sees it, and the agent itself. */
export const HealthDataSchema = z.object({
  directory: z.object({
    ok: z.boolean(),
    kind: z.string().max(32),
    latencyMs: z.number().min(0),
    detail: z.string().max(1024).optional(),
  }),
  agentVersion: z.string().max(64),
  uptimeSeconds: z.number().int().min(0),
});

/** Per operation: the schema of `result.data` when it succeeded. */
const RESULT_DATA_SCHEMAS = {
  'password.reset': ResetDataSchema,
  'password.change': ChangeDataSchema,
  'account.unlock': UnlockDataSchema,
  'policy.get': PolicyDataSchema,
  'credentials.verify': VerifyDataSchema,
  'sync.pull': SyncPullDataSchema,
  'sync.anchors': SyncAnchorsDataSchema,
  health: HealthDataSchema,
} as const satisfies Record<OperationName, z.ZodType>;

/** Per operation: the type of `result.data` when it succeeded. */
export type OperationDataMap = { [Op in OperationName]: z.infer<(typeof RESULT_DATA_SCHEMAS)[Op]> };
/** The success data of one operation: `OperationData<'credentials.verify'>`. */
export type OperationData<Op extends OperationName> = OperationDataMap[Op];
export type HealthData = OperationData<'health'>;

/** RESULT_DATA_SCHEMAS, typed so that indexing by a generic operation keeps its data type. */
export const OPERATION_RESULT_DATA: { readonly [Op in OperationName]: z.ZodType<OperationDataMap[Op]> } =
  RESULT_DATA_SCHEMAS;

/**
 * The typed success data of an operation's result: parsed with the operation's schema, or null
 * when the outcome is not `succeeded` or the data does not match (absent data counts as `{}`,
 * so an operation whose fields are all optional gets `{}`).
 */
export function resultData<Op extends OperationName>(op: Op, result: OperationResult): OperationData<Op> | null {
  if (result.outcome !== 'succeeded') return null;
  const parsed = OPERATION_RESULT_DATA[op].safeParse(result.data ?? {});
  return parsed.success ? parsed.data : null;
}
