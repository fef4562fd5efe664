/**
 * What an adapter read from its directory (a policy entry, a group's SID), reused for a while. The
 * age is measured on the adapter's clock from when the read started; an entry from the clock's
 * future (the clock was set back) is stale. A null result ("not found", "not readable") is kept too.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { at: number; value: V }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** The value kept for `key` when younger than ttlMs; otherwise `load()`'s, kept from now on. */
  async through(key: K, load: () => Promise<V>): Promise<V> {
    const t = this.now();
    const hit = this.entries.get(key);
    if (hit && t - hit.at < this.ttlMs && t >= hit.at) return hit.value;
    const value = await load();
    this.entries.set(key, { at: t, value });
    return value;
  }
}
