/**
 * A small pool of connections bound as the service account, shared by both LDAP adapters: at most
 * `size` open (idle, lent or being opened), handed out one operation at a time, a caller waiting
 * at most `timeoutMs` for one to come back. What a connection is, how one is opened (servers in
 * order, TLS, bind) and what the errors are belong to the adapter (`PoolParts`).
 *
 * A connection that is no longer usable (its socket dropped: ldapts would reconnect it unbound)
 * is never lent again; its slot goes to a waiter as a newly opened connection.
 */

/** What the adapter supplies. */
export interface PoolParts<C> {
  size: number;
  timeoutMs: number;
  /** A new bound connection (throws when no server could be reached). */
  open(): Promise<C>;
  /** Still connected and bound as the service account. */
  usable(c: C): boolean;
  /** Unbind and forget; never rejects. */
  dispose(c: C): Promise<void>;
  /** Thrown by acquire() once the pool is closed. */
  closedError(): Error;
  /** Thrown by acquire() when no connection came back within timeoutMs. */
  timeoutError(): Error;
  /** close() unbinds the lent connections too (not only the idle ones, the rest on release). */
  closeLent?: boolean;
}

type Waiter<C> = (c: C | Error) => void;

export class ConnectionPool<C> {
  private readonly idle: C[] = [];
  private readonly lent = new Set<C>();
  private readonly waiters: Waiter<C>[] = [];
  private opening = 0;
  private closed = false;

  constructor(private readonly parts: PoolParts<C>) {}

  /**
   * A usable connection: an idle one, a new one, or the next one given back. `fresh`: not an idle
   * one (it may have been closed by the server without the close event having arrived yet), a new
   * one, making room by closing one idle connection when the pool is full.
   */
  async acquire(o: { fresh?: boolean } = {}): Promise<C> {
    if (this.closed) throw this.parts.closedError();
    for (let c = this.idle.pop(); c !== undefined; c = this.idle.pop()) {
      if (!o.fresh && this.parts.usable(c)) {
        this.lent.add(c);
        return c;
      }
      void this.parts.dispose(c);
      if (o.fresh) break;
    }
    if (this.lent.size + this.idle.length + this.opening < this.parts.size) return this.openLent();
    return new Promise<C>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(take);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(this.parts.timeoutError());
      }, this.parts.timeoutMs);
      const take: Waiter<C> = (c) => {
        clearTimeout(timer);
        if (c instanceof Error) reject(c);
        else resolve(c);
      };
      this.waiters.push(take);
    });
  }

  /** Give a connection back; one that is no longer usable (or `broken`) is closed instead. */
  release(c: C, broken = false): void {
    if (!this.lent.delete(c)) return;
    if (broken || this.closed || !this.parts.usable(c)) {
      void this.parts.dispose(c);
      this.wakeOne();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.lent.add(c);
      w(c);
    } else this.idle.push(c);
  }

  /** True once close() was called: nothing is acquired any more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Refuses the waiting acquires and unbinds the idle connections (and the lent ones if so configured). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(this.parts.closedError());
    const conns = this.idle.splice(0);
    if (this.parts.closeLent) {
      conns.push(...this.lent);
      this.lent.clear();
    }
    await Promise.all(conns.map((c) => this.parts.dispose(c)));
  }

  private async openLent(): Promise<C> {
    this.opening++;
    let c: C;
    try {
      c = await this.parts.open();
    } catch (err) {
      this.opening--;
      // The slot is free again: a waiter may try its own luck.
      this.wakeOne();
      throw err;
    }
    this.opening--;
    if (this.closed) {
      await this.parts.dispose(c);
      throw this.parts.closedError();
    }
    this.lent.add(c);
    return c;
  }

  /** A waiter whose slot freed up gets a newly opened connection (or the error opening one). */
  private wakeOne(): void {
    if (this.closed) return;
    const w = this.waiters.shift();
    if (!w) return;
    this.openLent().then(w, (err: unknown) => w(err instanceof Error ? err : new Error(String(err))));
  }
}
