/** The agent's version, as announced to the relay and reported by `health`. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

function readVersion(): string {
  try {
    const pkg = z
      .object({ version: z.string().max(64) })
      .safeParse(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')));
    return pkg.success ? pkg.data.version : '0.0.0';
  } catch {
    // A bundled build has no package.json beside it.
    return '0.0.0';
  }
}

export const AGENT_VERSION: string = readVersion();
