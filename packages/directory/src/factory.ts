/**
 * One entry point that builds the right adapter from a configuration object (the agent's state
 * file carries it). Each adapter parses its own options and throws TypeError naming the option.
 */
import { z } from 'zod';
import type { Logger } from '@writeback/protocol';
import type { Directory, DirectoryKind } from './directory.js';
import { openAdDirectory } from './ad/index.js';
import { EmbeddedConfigSchema, openEmbeddedDirectory } from './embedded/index.js';
import { OpenLdapConfigSchema, openOpenLdapDirectory } from './openldap/index.js';

export const DIRECTORY_KINDS: readonly DirectoryKind[] = ['embedded', 'ad', 'openldap'];

const KindSchema = z.object({ kind: z.enum(['embedded', 'ad', 'openldap']) });

export interface OpenDirectoryDeps {
  log?: Logger;
  now?: () => number;
}

/** Open the directory a configuration describes. Throws TypeError for a bad configuration. */
export async function openDirectory(config: unknown, deps: OpenDirectoryDeps = {}): Promise<Directory> {
  const k = KindSchema.safeParse(config);
  if (!k.success) throw new TypeError(`directory.kind: must be one of ${DIRECTORY_KINDS.join(', ')}`);
  switch (k.data.kind) {
    case 'embedded': {
      const parsed = EmbeddedConfigSchema.safeParse(config);
      if (!parsed.success) throw new TypeError(`directory.${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return openEmbeddedDirectory(parsed.data, deps);
    }
    case 'ad':
      return openAdDirectory(config, deps);
    case 'openldap': {
      const parsed = OpenLdapConfigSchema.safeParse(config);
      if (!parsed.success) throw new TypeError(`directory.${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return openOpenLdapDirectory(parsed.data, deps);
    }
  }
}
