/**
 * Who may open an unauthenticated connection, and what the log says about those refused (issue 10
 * and issue 11 item 7: a flood of unauthenticated connections wrote one log line each, 12,370 lines
 * in 70 s, and one global limit of pending connections let a single address lock every agent out).
 *
 * - `Admission` counts pending connections (upgraded or upgrading, not yet authenticated) per remote
 *   address and in total. An address at its own cap is refused. At the total cap a newcomer is
 *   admitted only when another address holds more than its fair share: the oldest pending
 *   connection of the address holding the most is evicted for it (max-min fairness), so an agent
 *   dialling from elsewhere gets in during a flood from one address.
 * - `RefusalLog` writes the first refusal of each reason in a window as one line and counts the
 *   rest; when the window has passed, one summary line gives the counts per reason. Windows are
 *   judged by the hub's clock, so tests move it instead of waiting.
 *
 * Imports nothing of the relay: the hub and the connection build on it.
 */
import { isIPv6 } from 'node:net';
import type { Logger } from '@writeback/protocol';

/**
 * The address a pending connection is counted under: IPv4 as it is (an IPv4-mapped IPv6 address
 * too), IPv6 by its /64 prefix, since one host commonly holds a whole /64.
 */
export function remoteKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  const bare = address.split('%')[0] ?? address;
  if (!isIPv6(bare)) return address;
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head = '', tail] = bare.split('::');
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const full = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${full
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** Why a connection was not let in, or was let go before it authenticated. */
export type RefusalReason = 'pending_limit_ip' | 'pending_limit_total' | 'evicted' | (string & {});

/** One admitted pending connection. `release()` is idempotent. */
export interface AdmissionTicket {
  readonly remote: string;
  /** How to let this connection go when a fairer newcomer needs its place (set once it exists). */
  evict: () => void;
  release(): void;
}

export interface AdmissionOptions {
  /** Pending connections, all addresses together. */
  maxPending: number;
  /** Pending connections from one remote address. */
  maxPendingPerRemote: number;
}

export class Admission {
  readonly #o: AdmissionOptions;
  /** remote → its pending tickets, oldest first (a Set keeps insertion order). */
  readonly #byRemote = new Map<string, Set<AdmissionTicket>>();
  #total = 0;

  constructor(options: AdmissionOptions) {
    this.#o = options;
  }

  /** Pending connections now (all addresses). */
  get pending(): number {
    return this.#total;
  }

  /** Pending connections from one address now. */
  pendingOf(remote: string): number {
    return this.#byRemote.get(remote)?.size ?? 0;
  }

  /**
   * A ticket for one more pending connection from `remote`, or why not. `evict` is how the
   * connection is let go if a fairer newcomer needs its place (until the caller sets a better one).
   */
  admit(remote: string, evict: () => void): AdmissionTicket | { refused: RefusalReason } {
    const mine = this.pendingOf(remote);
    if (mine >= this.#o.maxPendingPerRemote) return { refused: 'pending_limit_ip' };
    if (this.#total >= this.#o.maxPending) {
      const victim = this.#oldestOfHeaviest();
      // Only when the heaviest address would still hold at least as many as the newcomer.
      if (!victim || this.pendingOf(victim.remote) <= mine + 1) return { refused: 'pending_limit_total' };
      victim.release();
      victim.evict();
    }
    return this.#issue(remote, evict);
  }

  #issue(remote: string, evict: () => void): AdmissionTicket {
    const set = this.#byRemote.get(remote) ?? new Set<AdmissionTicket>();
    this.#byRemote.set(remote, set);
    let released = false;
    const ticket: AdmissionTicket = {
      remote,
      evict,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        set.delete(ticket);
        if (set.size === 0 && this.#byRemote.get(remote) === set) this.#byRemote.delete(remote);
      },
    };
    set.add(ticket);
    this.#total++;
    return ticket;
  }

  #oldestOfHeaviest(): AdmissionTicket | undefined {
    let heaviest: Set<AdmissionTicket> | undefined;
    for (const set of this.#byRemote.values()) if (!heaviest || set.size > heaviest.size) heaviest = set;
    return heaviest?.values().next().value;
  }
}

export interface RefusalLogOptions {
  log: Logger;
  /** Length of one window, ms of `now()`. */
  intervalMs: number;
  now: () => number;
}

/** Distinct addresses remembered per window (only their number is logged). */
const MAX_REMOTES_COUNTED = 10_000;

export class RefusalLog {
  readonly #o: RefusalLogOptions;
  #windowStart: number | null = null;
  /** Reasons already written in full in this window. */
  readonly #written = new Set<string>();
  /** Refusals counted but not written, per reason. */
  readonly #counted = new Map<string, number>();
  readonly #remotes = new Set<string>();

  constructor(options: RefusalLogOptions) {
    this.#o = options;
  }

  /** One refused (or evicted, or failed before authenticating) connection. */
  note(reason: RefusalReason, fields: { remote: string } & Record<string, unknown>): void {
    this.tick();
    this.#windowStart ??= this.#o.now();
    if (!this.#written.has(reason)) {
      this.#written.add(reason);
      this.#o.log.warn('agent connection refused', { code: reason, ...fields });
      return;
    }
    this.#counted.set(reason, (this.#counted.get(reason) ?? 0) + 1);
    if (this.#remotes.size < MAX_REMOTES_COUNTED) this.#remotes.add(fields.remote);
  }

  /** Close the window once it has passed (the hub calls this on every heartbeat too). */
  tick(): void {
    if (this.#windowStart !== null && this.#o.now() - this.#windowStart >= this.#o.intervalMs) this.flush();
  }

  /** Write the window's summary (when anything went unwritten) and start afresh. */
  flush(): void {
    if (this.#counted.size > 0) {
      this.#o.log.warn('agent connections refused (summary)', {
        refused: Object.fromEntries(this.#counted),
        remotes: this.#remotes.size,
        windowMs: this.#o.now() - (this.#windowStart ?? this.#o.now()),
      });
    }
    this.#windowStart = null;
    this.#written.clear();
    this.#counted.clear();
    this.#remotes.clear();
  }
}
