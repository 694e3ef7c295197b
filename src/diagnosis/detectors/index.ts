import type { DetectedCode, Detector } from './detector.types.js';
import { appError } from './app-error.js';
import { blocked } from './blocked.js';
import { dnsChange } from './dns-change.js';
import { dnsFailure } from './dns-failure.js';
import { firewall } from './firewall.js';
import { gatewayDown } from './gateway-down.js';
import { gatewayMisconfig } from './gateway-misconfig.js';
import { overload } from './overload.js';
import { tlsError } from './tls-error.js';
import { upstreamDown } from './upstream-down.js';

/** One detector per cause; `unknown` is what is left when none of them fits (see explainUnknown). */
export const detectors: Record<DetectedCode, Detector> = {
  upstream_down: upstreamDown,
  overload,
  dns_change: dnsChange,
  dns_failure: dnsFailure,
  firewall,
  app_error: appError,
  gateway_misconfig: gatewayMisconfig,
  gateway_down: gatewayDown,
  tls_error: tlsError,
  blocked,
};

export { explainUnknown } from './unknown.js';
export type { DetectedCode, Detector, Finding } from './detector.types.js';
