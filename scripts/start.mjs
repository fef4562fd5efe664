#!/usr/bin/env node
// `npm start`: installs the npm packages when they are missing, then runs the demo system
// (scripts/demo.ts) through tsx. Plain JavaScript so it works before anything is installed.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', 'tsx')) || !existsSync(join(root, 'node_modules', 'better-sqlite3'))) {
  process.stderr.write('Installing npm packages (first run)...\n');
  execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
const { register } = await import('tsx/esm/api');
register();
await import('./demo.ts');
