/**
 * An admin's API session the way a client gets one (issue 10): sign in with the password (and a
 * code once the admin has an authenticator); a session without one may only enrol, so the helper
 * enrols through the API (POST .../admin/second-factor, then .../confirm with the first code) and
 * hands back the now full session with the key, for the codes of later sign-ins.
 */
import { totpCode } from '@writeback/cloud/testing';

export interface AdminApiSignIn {
  /** The tenant's slug or id, as in the path. */
  tenant: string;
  login: string;
  password: string;
  /** The admin's authenticator key, when it has one already: a code for `at` is sent. */
  secret?: string | null;
  /**
   * The time the cloud reads its clock as (default now): codes are made for it. A code is good
   * once, so a later sign-in of the same admin needs a later time (30 s steps).
   */
  at?: number;
}

export interface AdminApiSession {
  token: string;
  /** The admin's authenticator key (made here when the admin had none). */
  secret: string;
  adminId: string;
}

async function call(
  baseUrl: string,
  path: string,
  o: { body?: unknown; token?: string } = {},
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers,
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const text = (json: unknown, key: string): string => {
  const v = json !== null && typeof json === 'object' ? Reflect.get(json, key) : undefined;
  if (typeof v !== 'string') throw new Error(`no ${key} in ${JSON.stringify(json)}`);
  return v;
};

/** Sign an admin in through the API with full rights, enrolling an authenticator first when it has none. */
export async function adminApiSession(baseUrl: string, o: AdminApiSignIn): Promise<AdminApiSession> {
  const at = o.at ?? Date.now();
  const base = `/api/v1/tenants/${encodeURIComponent(o.tenant)}/admin`;
  const signedIn = await call(baseUrl, `${base}/sessions`, {
    body: { login: o.login, password: o.password, ...(o.secret ? { totp: totpCode(o.secret, at) } : {}) },
  });
  if (signedIn.status !== 201)
    throw new Error(`admin sign-in answered ${signedIn.status}: ${JSON.stringify(signedIn.json)}`);
  const token = text(signedIn.json, 'token');
  const admin =
    signedIn.json !== null && typeof signedIn.json === 'object' ? Reflect.get(signedIn.json, 'admin') : null;
  const adminId = text(admin, 'id');
  if (text(signedIn.json, 'secondFactor') === 'active') {
    if (!o.secret) throw new Error('the admin has an authenticator: pass its secret');
    return { token, secret: o.secret, adminId };
  }
  const begun = await call(baseUrl, `${base}/second-factor`, { token });
  if (begun.status !== 201) throw new Error(`enrolment answered ${begun.status}: ${JSON.stringify(begun.json)}`);
  const secret = text(begun.json, 'secret');
  const confirmed = await call(baseUrl, `${base}/second-factor/confirm`, {
    token,
    body: { code: totpCode(secret, at) },
  });
  if (confirmed.status !== 204)
    throw new Error(`enrolment confirmation answered ${confirmed.status}: ${JSON.stringify(confirmed.json)}`);
  return { token, secret, adminId };
}
