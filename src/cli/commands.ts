import { processIo, type CliIo } from './io.js';

/**
 * Commands that live in their own files: name, one line of usage, and the function that runs it
 * (imported when the command runs, so that help and usage start fast).
 */
const COMMANDS: Record<string, { usage: string; run(argv: string[], io: CliIo): Promise<number> }> = {
  diagnose: {
    usage: 'diagnose URL [--upstream NAME=URL ...] [--rounds N] [--json]\n           probe a site and its upstreams now, without server or database; print the checks and the ranked causes',
    run: async (argv, io) => (await import('./diagnose.js')).diagnoseCommand(argv, io),
  },
  sites: {
    usage: 'sites export > sites.json\n       gatewatch sites import sites.json\n           move sites between instances through a running instance\'s API (GATEWATCH_URL, API_TOKEN)',
    run: async (argv, io) => (await import('./sites-transfer.js')).sitesCommand(argv, io),
  },
};

/** The lines of the program's usage for these commands. */
export const commandUsage = Object.values(COMMANDS)
  .map((c) => `       gatewatch ${c.usage}`)
  .join('\n');

/** Runs the command named by argv[0] if it is one of these; undefined otherwise. */
export function runCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> | undefined {
  const command = COMMANDS[argv[0] ?? ''];
  return command?.run(argv.slice(1), processIo(env));
}
