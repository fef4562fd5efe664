/**
 * The doctor's state.* checks: the state file is present, parses, its parts belong together, has
 * mode 0600 and is owned by the user the doctor runs as.
 */
import { readFile, stat } from 'node:fs/promises';
import type { DoctorCheck } from '@writeback/directory';
import { AgentStateSchema, checkStateConsistency, type AgentKeys, type AgentState } from '../config.js';
import { AgentError } from '../errors.js';
import { errnoCode } from './common.js';

export type StateResult = { checks: DoctorCheck[]; state: AgentState | null; keys: AgentKeys | null };

/**
 * Read the state as `loadState` would, but report instead of refusing: a group-readable file is a
 * failed `state.permissions` check and the other checks still run with it.
 */
export async function stateChecks(path: string): Promise<StateResult> {
  const checks: DoctorCheck[] = [];
  const none = (c: DoctorCheck): StateResult => ({ checks: [...checks, c], state: null, keys: null });
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    const code = errnoCode(err);
    return none(
      code === 'ENOENT'
        ? {
            id: 'state.file',
            status: 'fail',
            summary: `no state file at ${path}`,
            fix: 'Give the path the agent runs with (--state), or register the agent (writeback-agent register).',
          }
        : {
            id: 'state.file',
            status: 'fail',
            summary: `${path} cannot be examined (${code})`,
            fix: 'Run the doctor as the user the agent runs as.',
          },
    );
  }
  if (!info.isFile())
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not a file`,
      fix: 'Give the path of the state file written by register.',
    });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} cannot be read (${errnoCode(err)})`,
      fix: 'Run the doctor as the user the agent runs as (the file is 0600).',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not JSON`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  const parsed = AgentStateSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.map(String).join('.') ?? '';
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path} is not a valid state file (at "${where}")`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  let keys: AgentKeys;
  try {
    keys = checkStateConsistency(parsed.data);
  } catch (err) {
    const what = err instanceof AgentError ? err.code : errnoCode(err);
    return none({
      id: 'state.file',
      status: 'fail',
      summary: `${path}: its keys and certificate do not belong together (${what})`,
      fix: 'Restore the state file from a backup, or register the agent again (revoke the old one).',
    });
  }
  const state = parsed.data;
  checks.push({
    id: 'state.file',
    status: 'pass',
    summary: `agent ${state.agentId} (${state.name}) of tenant ${state.tenantId}, ${state.directory.kind} directory`,
  });

  const mode = Number(info.mode) & 0o777;
  checks.push(
    (mode & 0o077) === 0
      ? { id: 'state.permissions', status: 'pass', summary: `mode ${mode.toString(8).padStart(3, '0')}` }
      : {
          id: 'state.permissions',
          status: 'fail',
          summary: `mode ${mode.toString(8).padStart(3, '0')}: the private keys are ${(mode & 0o044) !== 0 ? 'readable' : 'accessible'} by group or others; the agent refuses to start with it`,
          fix: `chmod 600 ${path}, and, if others could read it, revoke this agent and register a new one.`,
        },
  );
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : null;
  const owner = Number(info.uid);
  checks.push(
    uid === null || owner === uid
      ? {
          id: 'state.owner',
          status: 'pass',
          summary: uid === null ? 'owner not checked on this platform' : `owned by this user (uid ${owner})`,
        }
      : {
          id: 'state.owner',
          status: 'warn',
          summary: `owned by uid ${owner}, the doctor runs as uid ${uid}: what it finds about files and folders is what uid ${uid} can do`,
          fix: `Run the doctor as the agent's user (sudo -u '#${owner}' writeback-agent doctor ...).`,
        },
  );
  return { checks, state, keys };
}
