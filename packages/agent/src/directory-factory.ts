/**
 * Where the CLI gets a Directory from the state file's `directory` config. The adapters live in
 * @writeback/directory; its `openDirectory(config)` factory is looked up at run time so the agent
 * builds before that factory exists. LEAD: once `openDirectory` is exported, replace the lookup
 * with a static import.
 */
import type { Directory } from '@writeback/directory';
import type { DirectoryFactory } from './daemon.js';

/** The directory package's factory, or null when this build has none yet. */
export async function resolveDirectoryFactory(): Promise<DirectoryFactory | null> {
  const mod: Record<string, unknown> = await import('@writeback/directory');
  const open = mod.openDirectory;
  if (typeof open !== 'function') return null;
  // Trusted code of this repository, not data: the factory's contract is Directory-returning.
  return async (config, log) => (await open(config, { log })) as Directory;
}
