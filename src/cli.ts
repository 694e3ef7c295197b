import { issueToken, tokenFilePath } from './auth/token.js';
import { backupCommand, backupUsage } from './cli.backup.js';
import { loadConfigOrExit } from './config.js';
import { closeDatabase, openDatabase } from './db/client.js';

const usage = `usage: gatewatch token rotate   issue a new API token; the old one stops working at once
       ${backupUsage}`;

/** `gatewatch token rotate`: writes a new token beside the database and stores only its hash. */
export function main(argv: string[], env: Record<string, string | undefined>): number | Promise<number> {
  if (argv[0] === 'backup') return backupCommand(argv.slice(1), env);
  if (argv[0] !== 'token' || argv[1] !== 'rotate') {
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
