/**
 * One entry point that builds the right adapter from a configuration object (the agent's state
 * file carries it). Each adapter parses its own options and throws TypeError naming the option.
 */
import { z } from 'zod';
import type { Directory, DirectoryDeps, DirectoryKind } from './directory.js';
import type { DoctorCheck } from './doctor.js';
import { adDoctorChecks, openAdDirectory } from './ad/index.js';
import { EmbeddedConfigSchema, embeddedDoctorChecks, openEmbeddedDirectory } from './embedded/index.js';
import { OpenLdapConfigSchema, openLdapDoctorChecks, openOpenLdapDirectory } from './openldap/index.js';

export const DIRECTORY_KINDS: readonly DirectoryKind[] = ['embedded', 'ad', 'openldap'];

const KindSchema = z.object({ kind: z.enum(['embedded', 'ad', 'openldap']) });

/** The first schema issue as `directory.<option path>: <message>`. */
function firstIssue(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return `directory.${issues[0]?.path.map(String).join('.') ?? ''}: ${issues[0]?.message ?? 'invalid'}`;
}

/** `config` parsed with `schema`, or a TypeError naming the first bad option. */
function parseOrThrow<T>(schema: z.ZodType<T>, config: unknown): T {
  const parsed = schema.safeParse(config);
  if (!parsed.success) throw new TypeError(firstIssue(parsed.error.issues));
  return parsed.data;
}

export type OpenDirectoryDeps = DirectoryDeps;

/** Open the directory a configuration describes. Throws TypeError for a bad configuration. */
export async function openDirectory(config: unknown, deps: OpenDirectoryDeps = {}): Promise<Directory> {
  const k = KindSchema.safeParse(config);
  if (!k.success) throw new TypeError(`directory.kind: must be one of ${DIRECTORY_KINDS.join(', ')}`);
  switch (k.data.kind) {
    case 'embedded':
      return openEmbeddedDirectory(parseOrThrow(EmbeddedConfigSchema, config), deps);
    case 'ad':
      return openAdDirectory(config, deps);
    case 'openldap':
      return openOpenLdapDirectory(parseOrThrow(OpenLdapConfigSchema, config), deps);
  }
}

export interface DirectoryDoctorDeps extends DirectoryDeps {
  /** AD only: probe the Reset Password right with a reset the DC must refuse (default true). */
  probeReset?: boolean;
}

/**
 * The doctor checks of the adapter a configuration names. Never throws: a bad configuration is a
 * failed `config` check, and an adapter that stops on an unexpected error (a server going away
 * mid-run) becomes a failed `checks` entry naming the error class and code, never its message,
 * which could quote a server's reply.
 */
export async function directoryDoctorChecks(config: unknown, deps: DirectoryDoctorDeps = {}): Promise<DoctorCheck[]> {
  const k = KindSchema.safeParse(config);
  if (!k.success) {
    return [
      {
        id: 'config',
        status: 'fail',
        summary: `directory.kind: must be one of ${DIRECTORY_KINDS.join(', ')}`,
        fix: 'Set directory.kind in the state file (register again with a correct --directory).',
      },
    ];
  }
  const shapeFailure = (issues: readonly { path: readonly PropertyKey[]; message: string }[]): DoctorCheck[] => [
    {
      id: 'config',
      status: 'fail',
      summary: firstIssue(issues),
      fix: "Correct the option named above in the state file's directory configuration.",
    },
  ];
  try {
    switch (k.data.kind) {
      case 'embedded':
        return await embeddedDoctorChecks(config, deps);
      case 'ad':
        return await adDoctorChecks(config, deps);
      case 'openldap': {
        const parsed = OpenLdapConfigSchema.safeParse(config);
        if (!parsed.success) return shapeFailure(parsed.error.issues);
        return await openLdapDoctorChecks(parsed.data, deps);
      }
    }
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    const code =
      typeof err === 'object' &&
      err !== null &&
      'code' in err &&
      (typeof err.code === 'string' || typeof err.code === 'number')
        ? ` ${String(err.code)}`
        : '';
    return [
      {
        id: 'checks',
        status: 'fail',
        summary: `the ${k.data.kind} checks stopped on an unexpected error (${name}${code})`,
        fix: 'Run the doctor again; if it repeats, report it with the agent log.',
      },
    ];
  }
}
