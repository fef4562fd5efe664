/**
 * A started cloud on a real port (HTTP API, pages and the in-process relay hub) with a real store:
 * a fresh SQLite file or a fresh PostgreSQL schema that `stop()` removes, or the database the
 * test names in `config.databaseUrl` (kept).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createCloud, type Cloud, type CloudConfigInput, type CloudDeps } from '@writeback/cloud';
import { withDefaultUser } from '@writeback/cloud/testing';
import { createLogger } from '@writeback/protocol';

export const PG_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://127.0.0.1:5432/test';

export type EngineName = 'sqlite' | 'postgres';
export const ENGINES: readonly EngineName[] = ['sqlite', 'postgres'];

export interface TempStore {
  engine: EngineName;
  /** config fields selecting this store */
  config: Pick<CloudConfigInput, 'databaseUrl' | 'databaseSchema'>;
  /** SQLite: the database file path. */
  file?: string;
  /** PostgreSQL: the schema. */
  schema?: string;
  drop(): Promise<void>;
}

/** A store of its own for one test: a SQLite file in a temp folder, or a PostgreSQL schema. */
export function tempStore(engine: EngineName): TempStore {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'wb-cloud-'));
    const file = join(dir, 'writeback.db');
    return {
      engine,
      config: { databaseUrl: `sqlite:${file}` },
      file,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `wbt_${randomBytes(6).toString('hex')}`;
  return {
    engine,
    schema,
    config: { databaseUrl: PG_URL, databaseSchema: schema },
    drop: async () => {
      const c = new pg.Client({ connectionString: withDefaultUser(PG_URL) });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

export const newMasterKey = (): string => randomBytes(32).toString('base64url');
export const newOperatorKey = (): string =>
  `wbk_${randomBytes(8).toString('hex')}.${randomBytes(32).toString('base64url')}`;

export interface StartCloudOptions {
  /** Store engine of the temporary store (default sqlite); ignored when `config.databaseUrl` is set. */
  engine?: EngineName;
  /** Cloud configuration over the test defaults (port 0, a fresh master key, sync off). */
  config?: CloudConfigInput;
  /** Dependencies over the defaults (a preset operator key, a logger that only writes errors). */
  deps?: CloudDeps;
}

export interface StartedCloud {
  cloud: Cloud;
  store: TempStore;
  /** The operator API key the cloud was started with. */
  operatorKey: string;
  /** Stop the cloud and start it again on the same port, store and keys; `cloud` is the new one. */
  restart(): Promise<Cloud>;
  /** Stop the cloud and drop a temporary store. */
  stop(): Promise<void>;
}

export async function startCloud(o: StartCloudOptions = {}): Promise<StartedCloud> {
  const given = o.config?.databaseUrl;
  const store: TempStore =
    given === undefined
      ? tempStore(o.engine ?? 'sqlite')
      : {
          engine: given.startsWith('sqlite:') ? 'sqlite' : 'postgres',
          config: {
            databaseUrl: given,
            ...(o.config?.databaseSchema ? { databaseSchema: o.config.databaseSchema } : {}),
          },
          drop: async () => {},
        };
  const operatorKey = newOperatorKey();
  // Quiet unless a test passes its own logger (or captures the default sink at debug level).
  const log = createLogger({ name: 'cloud', level: 'error' });
  // Sync off unless a test turns it on: its pulls would reach scripted agents.
  const config: CloudConfigInput = {
    port: 0,
    masterKey: newMasterKey(),
    syncEnabled: false,
    ...store.config,
    ...o.config,
  };
  const started: StartedCloud = {
    cloud: await createCloud(config, { operatorKey, log, ...o.deps }),
    store,
    operatorKey,
    async restart() {
      const port = Number(new URL(started.cloud.url).port);
      await started.cloud.close();
      // The operator key is in the store already: not imported a second time.
      const { operatorKey: _once, ...deps } = { operatorKey, log, ...o.deps };
      started.cloud = await createCloud({ ...config, port }, { printOperatorKey: () => {}, ...deps });
      return started.cloud;
    },
    async stop() {
      await started.cloud.close();
      await store.drop();
    },
  };
  return started;
}
