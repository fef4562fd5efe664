/** A JSON call over HTTP as a test makes it: GET without a body, POST with one, a Bearer key if given. */
export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

export async function fetchJson(url: string, key?: string, body?: unknown): Promise<JsonAnswer> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
