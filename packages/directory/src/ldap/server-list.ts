/**
 * The directory servers in the order to try them: the configured order, a server that just failed
 * skipped for a backoff period (the protocol's one backoff rule) and tried last, the one back
 * soonest first. Both LDAP adapters (AD: growing, jittered; OpenLDAP: a fixed period) use it.
 */
import { backoffDelay, type BackoffShape } from '@writeback/protocol';

interface Health {
  failures: number;
  downUntil: number;
}

export class ServerList<U extends { readonly url: string } | string = string> {
  private readonly health = new Map<string, Health>();

  constructor(
    readonly servers: readonly U[],
    private readonly backoff: BackoffShape,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Healthy servers as configured, then the failing ones, soonest back first. */
  order(): U[] {
    const t = this.now();
    const until = (s: U) => this.health.get(key(s))?.downUntil ?? 0;
    const up = this.servers.filter((s) => until(s) <= t);
    const down = this.servers.filter((s) => until(s) > t).sort((a, b) => until(a) - until(b));
    return [...up, ...down];
  }

  /** One more failure of `server`: skipped for the next backoff period. Returns that period (ms). */
  markDown(server: U | string): { failures: number; backoffMs: number } {
    const k = typeof server === 'string' ? server : key(server);
    const h = this.health.get(k) ?? { failures: 0, downUntil: 0 };
    h.failures++;
    const backoffMs = backoffDelay(h.failures - 1, this.backoff, this.random);
    h.downUntil = this.now() + backoffMs;
    this.health.set(k, h);
    return { failures: h.failures, backoffMs };
  }

  /** `server` answered: back in the configured order, its failure count cleared. */
  markUp(server: U | string): void {
    this.health.delete(typeof server === 'string' ? server : key(server));
  }
}

function key(s: { readonly url: string } | string): string {
  return typeof s === 'string' ? s : s.url;
}
