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
 * One `connectFirst`. A class rather than a function of closures: those were made afresh for
 * every probe (six of them, and one more per address), where methods are made once.
 */
class FirstConnect {
  private readonly attempts: Attempt[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  private readonly startNext = () => this.tryNext();

  constructor(
    private readonly order: readonly string[],
    private readonly port: number,
    private readonly deadline: DeadlineSlot,
    private readonly attemptDelayMs: number,
    private readonly resolve: (result: ConnectResult) => void,
  ) {}

  start(): void {
    if (this.deadline.passed) {
      this.resolve({ kind: 'failed', failed: this.order.slice(0, 1).map((address) => ({ address, error: null })) });
      return;
    }
    this.deadline.onPass = () => this.finish({ kind: 'failed', failed: this.failures(this.attempts.length) });
    this.tryNext();
  }

  private finish(result: ConnectResult, winner?: Attempt): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.deadline.onPass = null;
    for (const attempt of this.attempts) {
      if (attempt === winner) continue;
      attempt.socket.removeAllListeners('connect');
      attempt.socket.destroy();
    }
    this.resolve(result);
  }

  private failures(until: number): FailedAttempt[] {
    const out: FailedAttempt[] = [];
    for (let i = 0; i < until; i++) out.push({ address: this.attempts[i].address, error: this.attempts[i].error });
    return out;
  }

  private allFailed(): boolean {
    return this.next >= this.order.length && this.attempts.every((a) => !a.pending);
  }

  private tryNext(): void {
    clearTimeout(this.timer);
    if (this.settled || this.next >= this.order.length) return;
    const address = this.order[this.next++];
    const socket = net.connect({ host: address, port: this.port });
    const attempt: Attempt = { address, socket, error: null, pending: true };
    this.attempts.push(attempt);
    const index = this.attempts.length - 1;
    const onError = (error: ConnectError) => {
      attempt.pending = false;
      attempt.error = error;
      if (this.settled) return;
      if (this.allFailed()) this.finish({ kind: 'failed', failed: this.failures(this.attempts.length) });
      else this.tryNext();
    };
    socket.once('connect', () => {
      attempt.pending = false;
      socket.removeListener('error', onError);
      // Until the caller's own handlers are on it (after a promise tick); it checks `destroyed`.
      socket.on('error', ignore);
      this.finish({ kind: 'connected', socket, address, failed: this.failures(index) }, attempt);
    });
    socket.on('error', onError);
    if (this.next < this.order.length) this.timer = setTimeout(this.startNext, this.attemptDelayMs);
  }
}

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
  const order = addresses.length === 1 ? addresses : interleaveFamilies(addresses);
  return new Promise<ConnectResult>((resolve) => new FirstConnect(order, port, deadline, attemptDelayMs, resolve).start());
}
