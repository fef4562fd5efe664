/**
 * The checks of `npm run chaos` once the load has stopped: the audit (read through the API, after
 * every pending record was closed) against what each caller was told, one write per
 * Idempotency-Key, and every user's password at slapd against the passwords that may be current.
 */
import { waitFor } from '@writeback/testkit';
import { type ChaosUser, sshaMatches, TENANT } from './cluster.js';
import type { LogicalRequest, UserState } from './load.js';

export interface AuditItem {
  requestId: string;
  action: string;
  target: string | null;
  state: 'pending' | 'done';
  outcome: string | null;
  detail: string | null;
}

async function auditPage(
  url: string,
  apiKey: string,
  cursor: string | null,
): Promise<{ items: AuditItem[]; nextCursor: string | null }> {
  const q = new URLSearchParams({ limit: '500', ...(cursor ? { cursor } : {}) });
  const res = await fetch(`${url}/api/v1/tenants/${TENANT}/audit?${q}`, {
    headers: { authorization: `Bearer ${apiKey}` },
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) throw new Error(`audit: HTTP ${res.status}`);
  return (await res.json()) as { items: AuditItem[]; nextCursor: string | null };
}

/** Every audit record of the tenant. */
export async function readAudit(url: string, apiKey: string): Promise<AuditItem[]> {
  const all: AuditItem[] = [];
  let cursor: string | null = null;
  do {
    const page = await auditPage(url, apiKey, cursor);
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** The audit once no record is pending any more (the sweep closed the abandoned ones), or after `timeoutMs`. */
export async function settledAudit(url: string, apiKey: string, timeoutMs: number): Promise<AuditItem[]> {
  let items: AuditItem[] = [];
  await waitFor(
    async () => {
      items = await readAudit(url, apiKey);
      return items.every((i) => i.state !== 'pending');
    },
    { what: 'every audit record to be closed', timeoutMs },
  ).catch(() => {});
  return items;
}

export interface Finding {
  scenario: string;
  key: string;
  requestId?: string;
  user: string;
  detail: string;
}

export interface AuditFindings {
  auditMismatch: Finding[];
  doubleWrite: Finding[];
  /** Told `outcome_unknown`/`timeout`, and the audit later knew better (not a contradiction). */
  unknownResolved: Finding[];
  /** Told a refusal that wrote nothing, and the audit has no record of it. */
  noRecord: Finding[];
  pendingLeft: number;
  /** password.reset records of the test users (one per key that reached a node: the check above is not vacuous). */
  resetRecords: number;
}

export function checkAudit(requests: readonly LogicalRequest[], audit: readonly AuditItem[]): AuditFindings {
  const byId = new Map(audit.map((a) => [a.requestId, a]));
  const f: AuditFindings = {
    auditMismatch: [],
    doubleWrite: [],
    unknownResolved: [],
    noRecord: [],
    pendingLeft: audit.filter((a) => a.state === 'pending').length,
    resetRecords: 0,
  };
  const keysPerUser = new Map<string, number>();
  for (const r of requests) {
    keysPerUser.set(r.user, (keysPerUser.get(r.user) ?? 0) + 1);
    const base = { scenario: r.scenario, key: r.key, user: r.user };
    if (r.requestIds.size > 1)
      f.doubleWrite.push({ ...base, detail: `one key answered with request ids ${[...r.requestIds].join(', ')}` });
    const t = r.told;
    if (t.kind !== 'outcome') continue;
    const rec = byId.get(t.requestId);
    const withId = { ...base, requestId: t.requestId };
    if (!rec) {
      if (t.outcome === 'agent_unavailable' || t.outcome === 'directory_unavailable')
        f.noRecord.push({ ...withId, detail: `told ${t.outcome}; no audit record` });
      else f.auditMismatch.push({ ...withId, detail: `told ${t.outcome}; no audit record` });
      continue;
    }
    if (rec.outcome === t.outcome) continue;
    const detail = `told ${t.outcome} (HTTP ${t.status}${t.replayed ? ', replayed' : ''}); audit: ${rec.state} ${rec.outcome ?? '-'}${rec.detail ? ` (${rec.detail})` : ''}`;
    if ((t.outcome === 'outcome_unknown' || t.outcome === 'timeout') && rec.state === 'done')
      f.unknownResolved.push({ ...withId, detail });
    else f.auditMismatch.push({ ...withId, detail });
  }
  // More password.reset records for a user than keys ever sent for it: some key wrote twice.
  const recordsPerUser = new Map<string, AuditItem[]>();
  for (const a of audit) {
    if (a.action !== 'password.reset' || a.target === null || !keysPerUser.has(a.target)) continue;
    f.resetRecords += 1;
    recordsPerUser.set(a.target, [...(recordsPerUser.get(a.target) ?? []), a]);
  }
  for (const [user, recs] of recordsPerUser) {
    const keys = keysPerUser.get(user) ?? 0;
    if (recs.length > keys)
      f.doubleWrite.push({
        scenario: '?',
        key: '?',
        user,
        detail: `${recs.length} password.reset audit records for ${keys} keys`,
      });
  }
  return f;
}

/** Users whose password at slapd is none of the ones that may be current. */
export async function checkFinalPasswords(
  states: readonly UserState[],
  stored: Map<string, string>,
): Promise<{ user: ChaosUser; detail: string }[]> {
  const bad: { user: ChaosUser; detail: string }[] = [];
  for (const s of states) {
    const hash = stored.get(s.user.uid);
    if (hash === undefined) {
      bad.push({ user: s.user, detail: 'no userPassword read' });
      continue;
    }
    if ([...s.candidates].some((p) => sshaMatches(hash, p))) continue;
    const all = [s.user.initial, ...s.sent];
    const idx = all.findIndex((p) => sshaMatches(hash, p));
    bad.push({
      user: s.user,
      detail:
        idx < 0
          ? 'its password is none the run ever set'
          : `its password is the one of its request #${idx} (of ${all.length - 1}), not in its ${s.candidates.size} candidate(s)`,
    });
  }
  return bad;
}
