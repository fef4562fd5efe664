/**
 * Whether `run` is running for a state file, read from `<state>.status` (which the daemon rewrites
 * on every link change and every few seconds) and the pid in it. `status` shows it; `config set`
 * uses it to say whether the running agent has to be restarted to use new settings.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const StatusFileSchema = z.object({
  pid: z.number().int(),
  updatedAt: z.string(),
  links: z.array(
    z.looseObject({
      index: z.number(),
      status: z.string(),
      lastError: z.string().nullable(),
      relayUrl: z.string().optional(),
      proxy: z.string().nullable().optional(),
    }),
  ),
});
export type StatusFile = z.infer<typeof StatusFileSchema>;

/** The status the daemon of this state file last wrote, when its process still lives; else null. */
export async function runningDaemon(statePath: string): Promise<StatusFile | null> {
  let running: StatusFile | null = null;
  try {
    const parsed = StatusFileSchema.safeParse(JSON.parse(await readFile(`${statePath}.status`, 'utf8')));
    if (parsed.success) running = parsed.data;
  } catch {
    running = null;
  }
  return running !== null && pidAlive(running.pid) ? running : null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}
