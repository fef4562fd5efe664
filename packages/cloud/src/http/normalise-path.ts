/**
 * The path is normalised before routing (RFC 3986 §6.2.2.2): percent-encoded unreserved characters
 * (letters, digits, `-._~`) are decoded, so `/t/demo/%61dmin/settings` is `/t/demo/admin/settings`
 * for every check that reads `req.url`, not only for the router (which decodes on its own). Issue
 * 10: the CSRF check took the encoded spelling for a user path and accepted another session's
 * token for an admin action. Other encodings (`%2F`, `%40`, ...) stay as they are: they are data.
 * The query is left untouched.
 */

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

export function normalisePath(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.includes('%')) return url;
  const normal = path.replace(/%([0-9A-Fa-f]{2})/g, (enc: string, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : enc;
  });
  return q < 0 ? normal : normal + url.slice(q);
}
