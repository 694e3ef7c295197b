import type { CauseCode } from '../diagnosis.types.js';
import type { DiagnosisContext } from '../context.js';

/** What one detector concluded, before ranking turns it into a Cause. */
export interface Finding {
  code: CauseCode;
  /** How strongly this pattern points at the cause when it fits, 0..1, before coverage. */
  strength: number;
  /** `at` of the failing rounds (site check startedAt) this finding accounts for. */
  explains: Set<number>;
  /** When its first evidence appeared; earlier causes rank above their consequences. */
  onset: number;
  /** The hops it is about: 'site' and/or upstream ids. */
  hops: string[];
  summary: string;
  evidence: string[];
  advice: string[];
}

/** Looks at the context for one cause; null when its pattern is absent. */
export type Detector = (ctx: DiagnosisContext) => Finding | null;

export type DetectedCode = Exclude<CauseCode, 'unknown'>;
