import { loadConfigOrExit } from './config.js';
import { backupDatabase } from './db/backup.js';

export const backupUsage = 'gatewatch backup FILE\n           copy the database (DATABASE_PATH) of a running or stopped instance to FILE';

/** `gatewatch backup FILE`: an online backup of DATABASE_PATH into FILE (see README, Backups). */
export async function backupCommand(args: string[], env: Record<string, string | undefined>): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    process.stdout.write(
      `usage: ${backupUsage}\n\nTakes a consistent copy with SQLite's online backup, while the service runs or not.\n` +
        'Restore: stop the service, put the copy at DATABASE_PATH (removing any -wal and -shm files beside it), start it.\n',
    );
    return 0;
  }
  if (args.length !== 1 || args[0].startsWith('-')) {
    process.stderr.write(`usage: ${backupUsage}\n`);
    return 2;
  }
  const config = loadConfigOrExit(env);
  try {
    const result = await backupDatabase(config.DATABASE_PATH, args[0]);
    process.stdout.write(`backup of ${config.DATABASE_PATH} written to ${result.file} (${result.bytes} bytes, ${result.pages} pages)\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`gatewatch backup: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
