/** Schemas shared by several routes (path parameters, error bodies). */
import { z } from 'zod';
import { MAX_USER_REF_LENGTH } from '@writeback/protocol';
import { CLOUD_ERROR_CODES } from '../errors.js';

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(CLOUD_ERROR_CODES),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), issue: z.string() })).optional(),
    retryAfterSeconds: z.number().int().optional(),
  }),
});

/** `:tenant`: a tenant's slug or id. */
export const TenantRef = z.string().min(1).max(64);
export const TenantParams = z.object({ tenant: TenantRef });
/** `:login`: URL-decoded by the router; the directory decides what it means. */
export const UserParams = z.object({ tenant: TenantRef, login: z.string().min(1).max(MAX_USER_REF_LENGTH) });
/** `:adminId`: an admin account's id. */
export const AdminIdParams = z.object({ tenant: TenantRef, adminId: z.string().regex(/^adm-[0-9a-f]{16}$/) });

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
