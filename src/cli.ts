import { issueToken, tokenFilePath } from './auth/token.js';
import { backupCommand, backupUsage } from './cli.backup.js';
import { loadConfigOrExit } from './config.js';
import { closeDatabase, openDatabase } from './db/client.js';
import { commandUsage, runCommand } from './cli/commands.js';

const usage = `usage: gatewatch token rotate   issue a new API token; the old one stops working at once
${commandUsage}
       ${backupUsage}

gatewatch COMMAND --help explains each command. Settings come from the environment and ./.env,
as the service reads them.`;

/** The command line: `token rotate` here, the others in src/cli/ (see cli/commands.ts). */
export function main(argv: string[], env: Record<string, string | undefined>): number | Promise<number> {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help')) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (argv[0] === 'backup') return backupCommand(argv.slice(1), env);
  const routed = runCommand(argv, env);
  if (routed) return routed;
  if (argv[0] === 'token' && (argv[1] === '--help' || argv[1] === '-h' || argv[2] === '--help')) {
    process.stdout.write('usage: gatewatch token rotate\n\nIssues a new API token, writes it to the token file beside DATABASE_PATH (mode 0600) and prints it;\nthe old token stops working at once. Not when API_TOKEN is set in the environment.\n');
    return 0;
  }
  if (argv[0] !== 'token' || argv[1] !== 'rotate') {
    if (argv[0] !== undefined) process.stderr.write(`gatewatch: unknown command ${JSON.stringify(argv.join(' '))}\n\n`);
    process.stderr.write(usage + '\n');
    return 2;
  }
  const config = loadConfigOrExit(env);
  if (config.API_TOKEN) {
    process.stderr.write('gatewatch: API_TOKEN is set in the environment; change it there (rotation manages generated tokens only)\n');
    return 1;
  }
  const db = openDatabase(config.DATABASE_PATH);
  try {
    const file = tokenFilePath(config.DATABASE_PATH);
    const token = issueToken(db, file);
    // Printed once, to the operator who asked for it; never logged.
    process.stdout.write(file ? `new API token written to ${file}\n${token}\n` : `${token}\n`);
    return 0;
  } finally {
    closeDatabase(db);
  }
}
