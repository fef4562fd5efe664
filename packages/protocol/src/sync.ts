/**
 * Directory sync: the cloud keeps a copy of the on-premises users in scope. The cloud PULLS
 * (`sync.pull`, `sync.anchors` operations through the same relay and agent connection), so the
 * cursor lives in the cloud and is stored in the same transaction as the batch it follows: a crash
 * anywhere resumes from the last committed batch, and replaying a batch is harmless (upserts by
 * anchor).
 *
 *   full sync:    sync.pull(cursor=null) ... until more=false, then sync.anchors pages to find
 *                 users that disappeared (deletions; the mass-delete guard applies)
 *   incremental:  sync.pull(cursor) every interval; `reset: true` in an answer means the cursor
 *                 is no longer valid (another DC, restored directory): start a full sync
 *
 * Cursors are opaque strings made by the adapter (embedded `seq:<n>`, AD `usn:<invocationId>:<usn>`,
 * OpenLDAP `ts:<generalizedTime>`...). Batches are bounded by count AND by size so an answer fits in
 * one frame (MAX_SYNC_BATCH_BYTES).
 */
import { z } from 'zod';

/**
 * Upper bound of a batch's JSON size: keeps a sync answer inside one frame, also sealed (the
 * sealed answer is the answer's JSON in base64: 40 KiB → about 55 KiB, under MAX_FRAME_BYTES).
 */
export const MAX_SYNC_BATCH_BYTES = 40 * 1024;
export const MAX_SYNC_BATCH_USERS = 500;

const Str = (max: number) => z.string().max(max);

/** A user as synced to the cloud: what sign-in, self-service and writeback need. No secrets. */
export const SyncedUserSchema = z.object({
  /** Immutable anchor (objectGUID / entryUUID / embedded id): never the DN. */
  anchor: Str(128).min(1),
  login: Str(256).min(1),
  dn: Str(1024).optional(),
  userPrincipalName: Str(256).optional(),
  mail: Str(256).optional(),
  displayName: Str(256).optional(),
  mobile: Str(64).optional(),
  enabled: z.boolean(),
  locked: z.boolean(),
  mustChange: z.boolean(),
  /** AD adminCount=1 and the like. */
  protected: z.boolean(),
  /** ISO time of the last password set on the directory (null: must change / never set). */
  passwordLastSetAt: z.string().max(64).nullable(),
  /** Groups used for scoping (DNs or names), as the adapter reports them. */
  groups: z.array(Str(1024)).max(1000).optional(),
});
export type SyncedUser = z.infer<typeof SyncedUserSchema>;

export const SyncChangeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('upsert'), user: SyncedUserSchema }),
  z.object({ kind: z.literal('delete'), anchor: Str(128).min(1) }),
]);
export type SyncChange = z.infer<typeof SyncChangeSchema>;

export const SyncPullParamsSchema = z.object({
  cursor: Str(2048).nullable(),
  limit: z.number().int().min(1).max(MAX_SYNC_BATCH_USERS).default(200),
});
export type SyncPullParams = z.infer<typeof SyncPullParamsSchema>;

/** result.data of a sync.pull answer. */
export const SyncPullDataSchema = z.object({
  changes: z.array(SyncChangeSchema).max(MAX_SYNC_BATCH_USERS),
  /** Where the next pull starts. */
  cursor: Str(2048),
  /** More changes are ready now (pull again at once). */
  more: z.boolean(),
  /** The given cursor is no longer valid: the cloud must start a full sync (cursor=null). */
  reset: z.boolean().optional(),
  /** Users in scope, when the adapter knows it cheaply (progress bars). */
  total: z.number().int().min(0).optional(),
});
export type SyncPullData = z.infer<typeof SyncPullDataSchema>;

export const SyncAnchorsParamsSchema = z.object({
  cursor: Str(2048).nullable(),
  limit: z.number().int().min(1).max(2000).default(1000),
});
export type SyncAnchorsParams = z.infer<typeof SyncAnchorsParamsSchema>;

/** result.data of a sync.anchors answer: every anchor in scope, page by page. */
export const SyncAnchorsDataSchema = z.object({
  anchors: z.array(Str(128).min(1)).max(2000),
  /** null: this was the last page. */
  cursor: Str(2048).nullable(),
});
export type SyncAnchorsData = z.infer<typeof SyncAnchorsDataSchema>;
