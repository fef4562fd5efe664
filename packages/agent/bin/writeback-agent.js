#!/usr/bin/env node
// Entry point of `writeback-agent`: loads the TypeScript sources through tsx (the single-file
// build replaces this) and hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
