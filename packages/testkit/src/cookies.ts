/**
 * The cookie jar of the tests' HTTP clients for the pages (no browser): name → value, filled from
 * the `Set-Cookie` headers of each response and sent back as one `Cookie` header. A cookie set to
 * an empty value or with `Max-Age=0` is forgotten, as a browser would. Paths, domains and expiry
 * dates are not modelled: a client talks to one cloud.
 */
export class CookieJar extends Map<string, string> {
  /** Take in what a response sets or clears. */
  keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair?.indexOf('=') ?? -1;
      if (!pair || i < 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /Max-Age=0/i.test(c)) this.delete(name);
      else this.set(name, value);
    }
  }

  /** The `Cookie` request header. */
  header(): string {
    return [...this].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}
