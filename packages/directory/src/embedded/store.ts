/**
 * Persistence of the embedded directory: a snapshot file plus an append-only journal of JSON lines,
 * one numbered record per change, in a folder guarded by a lock file.
 *
 * - A change is applied to memory and queued for the journal in the same tick (so memory order,
 *   sequence order and journal order are one order); `commit` resolves once its line is written
 *   (and, with durability 'fsync', on disk). Lines queued while a write is in flight go out together
 *   in the next write (group commit), which is what keeps 'fsync' usable under load.
 * - On open the snapshot is loaded, the journal replayed (records at or below the snapshot's seq are
 *   skipped: a crash between snapshot rename and journal truncation leaves them), and everything is
 *   compacted into a fresh snapshot. A torn tail (the last line without its newline, or unparsable
 *   lines at the very end) is what a crash mid-write leaves: it is dropped with a warning. An
 *   unparsable line followed by good ones is corruption: open fails with `store_corrupt`.
 * - Snapshots are replaced atomically: written to a temp file, fsynced, renamed, folder fsynced.
 *   The journal is compacted again once it outgrows both `compactAfterBytes` and the snapshot.
 * - The files hold password hashes: the folder is created 0700 and every file 0600 (issue 10: they
 *   were 0644); a journal left 0644 by an older version is narrowed on open, the snapshot is
 *   rewritten on open anyway. An existing folder keeps its mode (it may be shared).
 * - A failed journal write leaves the file in an unknown state, so the store stops accepting writes
 *   (`failed`) until it is reopened; memory may then be ahead of the disk, which is why callers
 *   report such a write as `outcome_unknown`.
 */
import { constants as fsc } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@writeback/protocol';
import { DirectoryError } from '../errors.js';
import { DirectoryState, JournalRecordSchema, SnapshotSchema, type Change, type JournalRecord } from './state.js';

export const SNAPSHOT_FILE = 'snapshot.json';
export const JOURNAL_FILE = 'journal.jsonl';
export const LOCK_FILE = 'LOCK';

export interface StoreOptions {
  durability: 'os' | 'fsync';
  compactAfterBytes: number;
  now: () => number;
  log: Logger;
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Paths open in this process: a second open of the same folder would interleave two journals. */
const openHere = new Set<string>();

function errnoCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, fsc.O_RDONLY);
    await fh.sync();
  } catch {
    // Not every platform lets a folder be fsynced; the rename is still atomic there.
  } finally {
    await fh?.close();
  }
}

/** A file's text, or null when it does not exist. */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** What opening found, for the log and the tests. */
export interface OpenReport {
  snapshotSeq: number;
  replayed: number;
  skipped: number;
  tornLines: number;
}

export class EmbeddedStore {
  private pending: Pending[] = [];
  private compactWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private idleWaiters: (() => void)[] = [];
  private running = false;
  private failure: unknown = null;
  private closed = false;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** Raised after a failed compaction so a broken disk does not make every write retry it. */
  private compactFloor = 0;

  private constructor(
    readonly dir: string,
    readonly state: DirectoryState,
    private journal: FileHandle,
    private readonly opts: StoreOptions,
    readonly openReport: OpenReport,
  ) {}

  /** Open (creating when missing) the store in `dir`. */
  static async open(dir: string, opts: StoreOptions): Promise<EmbeddedStore> {
    const folder = resolve(dir);
    if (openHere.has(folder))
      throw new DirectoryError('store_locked', 'embedded directory already open in this process');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await takeLock(folder);
    openHere.add(folder);
    try {
      const { state, report } = await load(folder, opts.log);
      const journal = await open(join(folder, JOURNAL_FILE), 'a', 0o600);
      await journal.chmod(0o600).catch(async (err: unknown) => {
        await journal.close();
        throw err;
      });
      const store = new EmbeddedStore(folder, state, journal, opts, report);
      await store.compactNow();
      return store;
    } catch (err) {
      openHere.delete(folder);
      await rm(join(folder, LOCK_FILE), { force: true });
      throw err;
    }
  }

  /** Why the store stopped accepting writes (null while healthy). */
  get failed(): unknown {
    return this.failure;
  }

  /** Size of the journal written since the last compaction, bytes. */
  get journalSize(): number {
    return this.journalBytes;
  }

  /**
   * Number, apply and journal one change; resolves when it is written (fsynced with 'fsync').
   * Throws synchronously (nothing applied) when the store is closed or failed.
   */
  commit(change: Change): Promise<JournalRecord> {
    if (this.closed) throw new DirectoryError('closed', 'embedded directory is closed');
    if (this.failure !== null)
      throw new DirectoryError('store_failed', 'embedded directory store failed a write; reopen it', {
        cause: this.failure,
      });
    const record: JournalRecord = { ...change, seq: this.state.seq + 1, at: this.opts.now() };
    this.state.apply(record);
    const line = `${JSON.stringify(record)}\n`;
    return new Promise<JournalRecord>((resolve, reject) => {
      this.pending.push({ line, resolve: () => resolve(record), reject });
      this.kick();
    });
  }

  /** Fold the journal into a new snapshot now (also happens on open and when the journal grows). */
  compact(): Promise<void> {
    if (this.closed) return Promise.reject(new DirectoryError('closed', 'embedded directory is closed'));
    return new Promise<void>((resolve, reject) => {
      this.compactWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Wait for queued writes, then release the folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    await this.journal.close();
    openHere.delete(this.dir);
    await rm(join(this.dir, LOCK_FILE), { force: true });
  }

  private idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.pending.length > 0) {
          await this.flush();
          continue;
        }
        const waiters = this.compactWaiters.splice(0);
        if (waiters.length > 0 || this.shouldCompact()) {
          try {
            await this.compactNow();
            for (const w of waiters) w.resolve();
          } catch (err) {
            this.compactFloor = this.journalBytes * 2;
            this.opts.log.error('embedded directory: compaction failed; the journal is intact', { err });
            for (const w of waiters) w.reject(err);
          }
          continue;
        }
        break;
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private shouldCompact(): boolean {
    return (
      this.failure === null &&
      this.journalBytes > Math.max(this.opts.compactAfterBytes, this.snapshotBytes, this.compactFloor)
    );
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (this.failure !== null) {
      for (const p of batch)
        p.reject(
          new DirectoryError('store_failed', 'embedded directory store failed a write', { cause: this.failure }),
        );
      return;
    }
    const data = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    try {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await this.journal.write(data, off, data.length - off, null);
        off += bytesWritten;
      }
      if (this.opts.durability === 'fsync') await this.journal.datasync();
      this.journalBytes += data.length;
    } catch (err) {
      this.failure = err;
      this.opts.log.error('embedded directory: journal write failed; no more writes until reopened', { err });
      for (const p of batch) p.reject(err);
      return;
    }
    for (const p of batch) p.resolve();
  }

  /**
   * Write the whole state as the new snapshot, then empty the journal. Runs inside the writer loop
   * (or before it starts), so no journal write interleaves with it.
   */
  private async compactNow(): Promise<void> {
    const text = JSON.stringify(this.state.toSnapshot());
    const target = join(this.dir, SNAPSHOT_FILE);
    const tmp = `${target}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    await fsyncDir(this.dir);
    await this.journal.truncate(0);
    if (this.opts.durability === 'fsync') await this.journal.datasync();
    this.snapshotBytes = Buffer.byteLength(text);
    this.journalBytes = 0;
    this.compactFloor = 0;
    this.opts.log.debug('embedded directory: compacted', { seq: this.state.seq, snapshotBytes: this.snapshotBytes });
  }
}

async function takeLock(folder: string): Promise<void> {
  const path = join(folder, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt((await readIfExists(path)) ?? '', 10);
    // Our own pid here is a lock left by an instance of this process that was never closed.
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new DirectoryError('store_locked', `embedded directory is in use by process ${pid}`);
    }
    await rm(path, { force: true });
  }
  throw new DirectoryError('store_locked', 'embedded directory lock could not be taken');
}

/**
 * The state the files hold (snapshot, then journal records above its seq; a torn last line is
 * dropped). Reads only: no lock, no write, so the doctor uses it on a store the agent holds open.
 * Throws DirectoryError('store_corrupt') for anything else unreadable.
 */
export async function load(folder: string, log: Logger): Promise<{ state: DirectoryState; report: OpenReport }> {
  const snapText = await readIfExists(join(folder, SNAPSHOT_FILE));
  let state = new DirectoryState();
  if (snapText !== null) {
    let json: unknown;
    try {
      json = JSON.parse(snapText);
    } catch (err) {
      throw new DirectoryError('store_corrupt', 'embedded directory snapshot is not JSON', { cause: err });
    }
    const parsed = SnapshotSchema.safeParse(json);
    if (!parsed.success)
      throw new DirectoryError('store_corrupt', 'embedded directory snapshot does not match its schema', {
        cause: parsed.error,
      });
    state = DirectoryState.fromSnapshot(parsed.data);
  }
  const report: OpenReport = { snapshotSeq: state.seq, replayed: 0, skipped: 0, tornLines: 0 };
  const journalText = (await readIfExists(join(folder, JOURNAL_FILE))) ?? '';
  const lines = journalText.split('\n');
  // The piece after the last newline is empty for a clean journal, a torn record otherwise.
  const tail = lines.pop() ?? '';
  if (tail !== '') report.tornLines++;
  const records: (JournalRecord | null)[] = lines.map((line) => {
    if (line.trim() === '') return null;
    try {
      const r = JournalRecordSchema.safeParse(JSON.parse(line));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  });
  let lastGood = -1;
  records.forEach((r, i) => {
    if (r) lastGood = i;
  });
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (!r) {
      if (i < lastGood)
        throw new DirectoryError('store_corrupt', `embedded directory journal line ${i + 1} is unreadable`);
      if ((lines[i] ?? '').trim() !== '') report.tornLines++;
      continue;
    }
    if (r.seq <= report.snapshotSeq) {
      report.skipped++;
      continue;
    }
    if (r.seq <= state.seq)
      throw new DirectoryError('store_corrupt', `embedded directory journal line ${i + 1} goes back in sequence`);
    state.apply(r);
    report.replayed++;
  }
  if (report.tornLines > 0)
    log.warn('embedded directory: dropped a torn journal tail (crash during a write)', { lines: report.tornLines });
  log.info('embedded directory: opened', { users: state.users.size, seq: state.seq, ...report });
  return { state, report };
}
