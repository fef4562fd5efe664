/** Whether the lab's servers can run here: the Debian packages scripts/install-directory-servers.sh installs. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Why a suite cannot run here (a program it needs is not installed), or undefined when it can. */
export function missingPrograms(programs: readonly string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'];
  const absent = programs.filter((p) => !dirs.some((d) => d && existsSync(join(d, p))));
  return absent.length
    ? `not installed: ${absent.join(', ')} (scripts/install-directory-servers.sh installs them)`
    : undefined;
}
