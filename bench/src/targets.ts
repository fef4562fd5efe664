/**
 * The directories a benchmark can run against: the embedded one (always), and the real Samba AD
 * DC and slapd from the test lab (when their Debian packages are installed).
 */
import { join } from 'node:path';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import type { Logger } from '@writeback/protocol';

export interface DirectoryTarget {
  describe: string;
  /** Adapter configuration (also written into the agent's state). */
  config: Record<string, unknown>;
  /** Logins of users the benchmark may reset. */
  users: string[];
  /** Requests for the throughput phase (slow directories get fewer). */
  throughputTotal(requested: number): number;
  stop(): Promise<void>;
}

const INITIAL = 'Initial-Bench-Pass-1!';

export async function startDirectoryTarget(kind: 'embedded' | 'ad' | 'openldap', o: { dir: string; users: number; log: Logger; hash?: { N: number; r: number; p: number } }): Promise<DirectoryTarget> {
  const logins = Array.from({ length: o.users }, (_, i) => `bench${String(i).padStart(4, '0')}`);
  if (kind === 'embedded') {
    const hash = o.hash ?? { ...HASH_COST.fast };
    const config = { kind: 'embedded', path: join(o.dir, 'directory'), hash, policy: { minLength: 10, complexity: true, historyLength: 24, minAgeSeconds: 0, maxAgeSeconds: 0, lockoutThreshold: 0 } };
    const d = await openEmbeddedDirectory({ ...config, kind: 'embedded' }, { log: o.log });
    for (const login of logins) await d.createUser({ login, password: INITIAL });
    await d.close();
    return { describe: `embedded (scrypt N=${hash.N} r=${hash.r} p=${hash.p}, history 24 enforced on reset: 2 scrypt derivations per reset)`, config, users: logins, throughputTotal: (n) => n, stop: async () => {} };
  }
  throw new TypeError(`--directory ${kind}: not available in this build yet`);
}
