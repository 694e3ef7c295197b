export * from './probes.types.js';
export { createResolver, DnsFailure, sortAddresses } from './dns.resolver.js';
export type { DnsFailureKind, Resolver, ResolverOptions } from './dns.resolver.js';
export { createTargetPolicy, parseCidrList, DEFAULT_DENIED } from './target-policy.js';
export type { PolicyDecision, TargetPolicy, TargetPolicyOptions } from './target-policy.js';
export { createHttpProbe } from './http.probe.js';
export type { HttpProbeDeps } from './http.probe.js';
export { detectGateway, GATEWAY_DETECTORS } from './gateway-detect.js';
export type { GatewayDetector, ResponseHeaders } from './gateway-detect.js';
