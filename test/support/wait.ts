/**
 * Polls `condition` until it holds (returns truthy) or `timeoutMs` passes, then throws with
 * `message`. For waiting on servers and sockets without fixed sleeps.
 *
 *   await waitFor(() => server.connections() === 1, { message: 'no connection' });
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 10, message = 'condition not met' }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<Exclude<T, null | undefined | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, null | undefined | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`waitFor: ${message} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
