/** What a command reads and writes: passed in, so that a command can run inside a test too. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

export const processIo = (env: Record<string, string | undefined>): CliIo => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env,
});
