/**
 * The operations the cloud asks an agent to execute. `params` are visible to the relay (and bound
 * into the envelope's associated data); `secret` is only ever carried encrypted to the agent's key.
 */
import { z } from 'zod';
import { SyncAnchorsParamsSchema, SyncPullParamsSchema, type SyncAnchorsParams, type SyncPullParams } from './sync.js';

export const OPERATIONS = [
  'password.reset',
  'password.change',
  'account.unlock',
  'policy.get',
  'credentials.verify',
  'sync.pull',
  'sync.anchors',
  'health',
] as const;
export type OperationName = (typeof OPERATIONS)[number];
export const OperationNameSchema = z.enum(OPERATIONS);

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

export const PasswordSchema = z.string().min(0).max(MAX_PASSWORD_LENGTH);

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

export type ResetParams = z.infer<typeof ResetParamsSchema>;
export type ResetSecret = z.infer<typeof ResetSecretSchema>;
export type ChangeParams = z.infer<typeof ChangeParamsSchema>;
export type ChangeSecret = z.infer<typeof ChangeSecretSchema>;
export type UnlockParams = z.infer<typeof UnlockParamsSchema>;
export type PolicyParams = z.infer<typeof PolicyParamsSchema>;
export type VerifyParams = z.infer<typeof VerifyParamsSchema>;
export type VerifySecret = z.infer<typeof VerifySecretSchema>;

/** A request as the cloud means it, before sealing: op, params and (optional) secret together. */
export type OperationRequest =
  | { op: 'password.reset'; params: ResetParams; secret: ResetSecret }
  | { op: 'password.change'; params: ChangeParams; secret: ChangeSecret }
  | { op: 'account.unlock'; params: UnlockParams; secret?: undefined }
  | { op: 'policy.get'; params: PolicyParams; secret?: undefined }
  | { op: 'credentials.verify'; params: VerifyParams; secret: VerifySecret }
  | { op: 'sync.pull'; params: SyncPullParams; secret?: undefined }
  | { op: 'sync.anchors'; params: SyncAnchorsParams; secret?: undefined }
  | { op: 'health'; params: Record<string, never>; secret?: undefined };
