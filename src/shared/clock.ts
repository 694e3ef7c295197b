/** The only source of time outside tests' fake clocks. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
