#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the package needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const { readDotEnv } = await import('../src/config.ts');
process.exitCode = await main(process.argv.slice(2), { ...readDotEnv('.env'), ...process.env });
