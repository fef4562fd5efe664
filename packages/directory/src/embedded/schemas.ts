/**
 * The embedded directory's administrative input (create and update a user, name a policy): its
 * types and the schemas that parse it at the boundary, failures as DirectoryError invalid_input
 * naming the field (never the rejected value).
 */
import { MAX_PASSWORD_LENGTH } from '@writeback/protocol';
import { z } from 'zod';
import { DirectoryError } from '../errors.js';

/** Input of {@link EmbeddedDirectory.createUser}. */
export interface CreateUserInput {
  login: string;
  displayName?: string;
  mail?: string;
  upn?: string;
  mobile?: string;
  /** Group names (sync scope). */
  groups?: string[];
  /** Checked against the policy's length and complexity rules; absent: no password yet. */
  password?: string;
  enabled?: boolean;
  protected?: boolean;
  mustChange?: boolean;
  policyName?: string;
}

/** Patch of {@link EmbeddedDirectory.updateUser}; null clears an optional attribute. */
export interface UpdateUserPatch {
  login?: string;
  displayName?: string | null;
  mail?: string | null;
  upn?: string | null;
  mobile?: string | null;
  groups?: string[];
  enabled?: boolean;
  protected?: boolean;
  mustChange?: boolean;
  policyName?: string | null;
}

const FORBIDDEN_IN_LOGIN = /[\p{Cc}"/\\[\]:;|=,+*?<>@()]/u;
const LoginSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((v) => !FORBIDDEN_IN_LOGIN.test(v) && v.trim() === v, 'login contains a character logins may not contain');
const UpnSchema = z
  .string()
  .max(256)
  .regex(/^[^\s@\p{Cc}*()\\]+@[^\s@\p{Cc}*()\\]+$/u, 'upn must look like name@domain');
const MailSchema = z
  .string()
  .max(256)
  .regex(/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u, 'mail must look like name@domain');
const DisplayNameSchema = z
  .string()
  .min(1)
  .max(256)
  .refine((v) => !/[\p{Cc}]/u.test(v), 'displayName contains a control character');
const MobileSchema = z.string().regex(/^\+?[0-9][0-9 ()-]{2,40}$/, 'mobile must be a phone number');
const GroupsSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(256)
      .refine((v) => !/[\p{Cc}]/u.test(v), 'group names may not contain control characters'),
  )
  .max(1000);
export const PolicyNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/u, 'policy names use letters, digits, space, _ . -');

export const CreateUserSchema = z
  .object({
    login: LoginSchema,
    displayName: DisplayNameSchema.optional(),
    mail: MailSchema.optional(),
    upn: UpnSchema.optional(),
    mobile: MobileSchema.optional(),
    groups: GroupsSchema.optional(),
    password: z.string().max(MAX_PASSWORD_LENGTH).optional(),
    enabled: z.boolean().default(true),
    protected: z.boolean().default(false),
    mustChange: z.boolean().default(false),
    policyName: PolicyNameSchema.optional(),
  })
  .strict();

export const UpdateUserSchema = z
  .object({
    login: LoginSchema,
    displayName: DisplayNameSchema.nullable(),
    mail: MailSchema.nullable(),
    upn: UpnSchema.nullable(),
    mobile: MobileSchema.nullable(),
    groups: GroupsSchema,
    enabled: z.boolean(),
    protected: z.boolean(),
    mustChange: z.boolean(),
    policyName: PolicyNameSchema.nullable(),
  })
  .partial()
  .strict();

/** Parses administrative input; the first issue becomes DirectoryError invalid_input naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  // zod messages name the rule, never the rejected value, so no password can leak through here.
  throw new DirectoryError(
    'invalid_input',
    `${what}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`,
  );
}
