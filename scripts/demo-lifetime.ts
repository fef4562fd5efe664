/**
 * How long the demo lives (issue 12: a SIGTERM to `npm start` left the demo and its agent running,
 * and once its agent had died the demo's stop waited forever for that agent's exit).
 *
 * npm runs `npm start` through a shell and forwards SIGTERM to that shell only; the shell dies of it
 * and we are left running with another parent. So the demo watches who launched it: its parent and,
 * under npm, npm itself (a SIGKILLed npm leaves its shell waiting on us), and stops when either is
 * gone. Node has no parent-death signal; a check every half second costs nothing.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** `/proc/<pid>/stat` → [state, ppid]; null off Linux or when the process is gone. */
function procStat(pid: number): [string, number] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return state && ppid ? [state, Number(ppid)] : null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  if (process.platform === 'linux') return procStat(pid)?.[1] ?? null;
  try {
    const ppid = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
    return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
  } catch {
    return null;
  }
}

/** The process exists and is not a zombie (a dead child its parent has not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'EPERM')) return false;
  }
  return process.platform !== 'linux' || procStat(pid)?.[0] !== 'Z';
}

/** Calls `gone` once when the process that launched this one ends. Returns a function that stops watching. */
export function onLauncherGone(gone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const watched = [parent];
  // Under npm the parent is npm's shell; npm is its parent.
  if (process.env.npm_lifecycle_event) {
    const npm = parentOf(parent);
    if (npm !== null && npm > 1) watched.push(npm);
  }
  const timer = setInterval(() => {
    if (process.ppid === parent && watched.every(alive)) return;
    clearInterval(timer);
    gone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Stop the agent's process and wait for its end: at once when it has already ended (its 'exit'
 * event does not come twice), SIGKILL when SIGTERM has not ended it within `graceMs`.
 */
export async function stopAgentProcess(agent: ChildProcess, exited: Promise<void>, graceMs = 12_000): Promise<void> {
  if (agent.exitCode !== null || agent.signalCode !== null) return;
  agent.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const how = await Promise.race([exited.then(() => 'ended' as const), late]);
  clearTimeout(timer);
  if (how === 'late') {
    agent.kill('SIGKILL');
    await exited;
  }
}
