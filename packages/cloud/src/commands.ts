/**
 * The cloud process's one-shot commands for operators (`main.ts <command>`):
 *
 *   bootstrap-operator-key [--out <file>] [--rotate]   the first operator API key, into a 0600 file
 *   print-public-key [--env]                           the cloud's Ed25519 public key (relays need it)
 *
 * They read the same environment as the service (DATABASE_URL, DATABASE_SCHEMA,
 * WRITEBACK_MASTER_KEY, OPERATOR_KEY_FILE, ...), open the store (applying migrations under the same
 * lock as a starting node), do one thing and return an exit code. No secret reaches stdout or the
 * log: the operator key goes to a file, and only its path is printed.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from '@writeback/protocol';
import { defaultOperatorKeyFile, ensureOperatorKey } from './auth/operator-key.js';
import { loadConfig, type CloudConfig } from './config.js';
import { loadOrCreateCloudKey } from './keys/cloud-key.js';
import { resolveMasterKey } from './keys/master-key.js';
import { countLiveOperatorKeys } from './store/api-keys.js';
import { openStore, type Db } from './store/index.js';

export interface CommandIo {
  env: Record<string, string | undefined>;
  log: Logger;
  /** What the command prints for the operator (stdout). */
  out(text: string): void;
  /** Refusals and usage (stderr). */
  err(text: string): void;
  now?: () => number;
}

export const COMMAND_USAGE = `usage: node --import tsx packages/cloud/src/main.ts [command]
  (no command)                                       run the service
  bootstrap-operator-key [--out <file>] [--rotate]   create the first operator API key, written to a
                                                     0600 file (default OPERATOR_KEY_FILE, or operator.key
                                                     next to the SQLite database); --rotate revokes every
                                                     operator key first (a lost key)
  print-public-key [--env]                           print the cloud's public key for the relays'
                                                     WRITEBACK_CLOUD_PUBLIC_KEY (--env: as VAR=value)
`;

type Command = (args: string[], io: CommandIo) => Promise<number>;

async function withStore<T>(config: CloudConfig, log: Logger, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openStore({
    url: config.databaseUrl,
    ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
    poolSize: 2,
    log: log.child({ component: 'store' }),
  });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const bootstrapOperatorKey: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { out: { type: 'string' }, rotate: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const config = loadConfig({ env: io.env });
  const file =
    values.out ?? config.operatorKeyFile ?? defaultOperatorKeyFile(config.databaseUrl, config.databaseSchema);
  if (!file) {
    io.err('an in-memory store keeps no key: set DATABASE_URL to the service database\n');
    return 2;
  }
  return withStore(config, io.log, async (db) => {
    if (!values.rotate && (await countLiveOperatorKeys(db)) > 0) {
      io.err(
        'an operator API key exists already: nothing was created (create further keys with it, or use --rotate to revoke every operator key and write a new one)\n',
      );
      return 1;
    }
    if (existsSync(file)) {
      io.err(`${file} exists: nothing was created (move it away, or name another file with --out)\n`);
      return 1;
    }
    const first = await ensureOperatorKey(db, {
      now: (io.now ?? Date.now)(),
      deliver: file,
      rotate: values.rotate,
      name: values.rotate ? 'rotated operator key' : 'first operator key',
    });
    if (!first.created) {
      io.err('another process created an operator API key meanwhile: nothing was created\n');
      return 1;
    }
    io.out(
      `operator API key written to ${file} (mode 0600)${first.revoked > 0 ? `; ${first.revoked} earlier operator key(s) revoked` : ''}\n`,
    );
    io.log.info('operator API key bootstrapped', { file, revoked: first.revoked });
    return 0;
  });
};

const printPublicKey: Command = async (args, io) => {
  const { values } = parseArgs({
    args,
    options: { env: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const config = loadConfig({ env: io.env });
  // The same key every node loads (created here when no node has started yet, as a start would).
  const masterKey = resolveMasterKey(config, io.log);
  return withStore(config, io.log, async (db) => {
    const key = await loadOrCreateCloudKey(db, masterKey.key, (io.now ?? Date.now)());
    masterKey.key.fill(0);
    io.out(values.env ? `WRITEBACK_CLOUD_PUBLIC_KEY=${key.publicKey}\n` : `${key.publicKey}\n`);
    return 0;
  });
};

const COMMANDS: Readonly<Record<string, Command>> = {
  'bootstrap-operator-key': bootstrapOperatorKey,
  'print-public-key': printPublicKey,
};

/** Run one command; returns the process's exit code (2: usage). Configuration errors throw TypeError. */
export async function runCommand(name: string, args: string[], io: CommandIo): Promise<number> {
  if (name === 'help' || name === '--help' || name === '-h') {
    io.out(COMMAND_USAGE);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command ${JSON.stringify(name)}\n${COMMAND_USAGE}`);
    return 2;
  }
  try {
    return await command(args, io);
  } catch (err) {
    // parseArgs refuses unknown or malformed options with a TypeError of its own code.
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`${err.message}\n${COMMAND_USAGE}`);
      return 2;
    }
    throw err;
  }
}
