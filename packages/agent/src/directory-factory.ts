/** Where the daemon and the CLI get a Directory from the state file's `directory` config. */
import { openDirectory } from '@writeback/directory';
import type { DirectoryFactory } from './daemon.js';

/** The directory package's factory (embedded, ad, openldap). */
export async function resolveDirectoryFactory(): Promise<DirectoryFactory | null> {
  return async (config, log) => openDirectory(config, { log });
}
