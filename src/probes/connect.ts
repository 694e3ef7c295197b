/**
 * The TCP connect of a probe to a name with several addresses, as browsers make it (Happy
 * Eyeballs, RFC 8305 §5-6): the addresses in the resolver's order, the two families interleaved,
 * one attempt started every `ATTEMPT_DELAY_MS` or as soon as the previous one fails, the first to
 * connect wins and the others are dropped. Which addresses failed is part of the answer: one dead
 * address of several is worth telling the owner, though users (and the probe) still got through.
 */
import net, { isIP, type Socket } from 'node:net';

/** RFC 8305's recommended Connection Attempt Delay. */
export const ATTEMPT_DELAY_MS = 250;

export type ConnectError = Error & { code?: string; syscall?: string };

/** An address that did not connect: its error, or null when it was still trying (see below). */
export interface FailedAttempt {
  address: string;
  error: ConnectError | null;
}

export type ConnectResult =
  /**
   * `failed`: the addresses tried before the winner that did not connect: refused, reset or
   * unreachable (`error`), or still trying when the winner connected although started before it
   * (`error` null: slower than `ATTEMPT_DELAY_MS`, as packets dropped by a firewall are).
   */
  | { kind: 'connected'; socket: Socket; address: string; failed: FailedAttempt[] }
  /** Every address failed; `error` null: still trying when the deadline passed. In the order tried. */
  | { kind: 'failed'; failed: FailedAttempt[] };

/** The probe's deadline as this step sees it (see `Deadline` in http.probe.ts). */
export interface DeadlineSlot {
  passed: boolean;
  onPass: (() => void) | null;
}

/**
 * RFC 8305 §4: the addresses in their given order, but alternating families, starting with the
 * family of the first (`[a1, a2, b1]` of families 4, 4, 6 -> `a1, b1, a2`).
 */
export function interleaveFamilies(addresses: readonly string[]): string[] {
  if (addresses.length < 2) return [...addresses];
  const first = isIP(addresses[0]);
  const same = addresses.filter((a) => isIP(a) === first);
  const other = addresses.filter((a) => isIP(a) !== first);
  const out: string[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    if (i < same.length) out.push(same[i]);
    if (i < other.length) out.push(other[i]);
  }
  return out;
}

interface Attempt {
  address: string;
  socket: Socket;
  error: ConnectError | null;
  pending: boolean;
}

const ignore = () => {};

/**
 * Connects to `port` on one of `addresses` (non-empty, already allowed by the target policy).
 * Resolves once: with the first socket that connected (its own listeners removed, the others
 * destroyed), or with every failure when none did before the last failed or the deadline passed.
 * Never rejects; leaves no socket or timer behind but the winner.
 */
export function connectFirst(
  addresses: readonly string[],
  port: number,
  deadline: DeadlineSlot,
  attemptDelayMs = ATTEMPT_DELAY_MS,
): Promise<ConnectResult> {
  const order = interleaveFamilies(addresses);
  return new Promise<ConnectResult>((resolve) => {
    const attempts: Attempt[] = [];
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (result: ConnectResult, winner?: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      deadline.onPass = null;
      for (const attempt of attempts) {
        if (attempt === winner) continue;
        attempt.socket.removeAllListeners('connect');
        attempt.socket.destroy();
      }
      resolve(result);
    };

    const failures = (until: number): FailedAttempt[] =>
      attempts.slice(0, until).map((a) => ({ address: a.address, error: a.error }));

    const allFailed = () => next >= order.length && attempts.every((a) => !a.pending);

    const startNext = () => {
      clearTimeout(timer);
      if (settled || next >= order.length) return;
      const address = order[next++];
      const socket = net.connect({ host: address, port });
      const attempt: Attempt = { address, socket, error: null, pending: true };
      attempts.push(attempt);
      const index = attempts.length - 1;
      socket.once('connect', () => {
        attempt.pending = false;
        socket.removeListener('error', onError);
        // Until the caller's own handlers are on it (after a promise tick); it checks `destroyed`.
        socket.on('error', ignore);
        finish({ kind: 'connected', socket, address, failed: failures(index) }, attempt);
      });
      const onError = (error: ConnectError) => {
        attempt.pending = false;
        attempt.error = error;
        if (settled) return;
        if (allFailed()) finish({ kind: 'failed', failed: failures(attempts.length) });
        else startNext();
      };
      socket.on('error', onError);
      if (next < order.length) timer = setTimeout(startNext, attemptDelayMs);
    };

    if (deadline.passed) {
      resolve({ kind: 'failed', failed: order.slice(0, 1).map((address) => ({ address, error: null })) });
      return;
    }
    deadline.onPass = () => finish({ kind: 'failed', failed: failures(attempts.length) });
    startNext();
  });
}
