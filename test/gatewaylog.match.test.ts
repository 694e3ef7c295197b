/** Which sites a gateway-log line concerns, and how (src/gatewaylog/gatewaylog.match.ts). */
import { describe, expect, it } from 'vitest';
import { attribute } from '../src/gatewaylog/gatewaylog.match.js';
import type { LogSource } from '../src/gatewaylog/gatewaylog.repository.js';
import type { ParsedLine } from '../src/gatewaylog/gatewaylog.types.js';

const shop: LogSource = {
  siteId: 1,
  url: 'https://shop.example.com/',
  gatewayLog: { path: '/var/log/nginx/error.log', format: 'nginx' },
  upstreams: [
    { id: 11, name: 'app-1', url: 'http://app.internal:8080/health' },
    { id: 12, name: 'app-2', url: 'http://10.0.0.6:8081/health' },
  ],
};
const blog: LogSource = { ...shop, siteId: 2, url: 'https://blog.example.com/', upstreams: [{ id: 21, name: 'wp', url: 'http://10.0.0.9:80/' }] };
const line = (over: Partial<ParsedLine>): ParsedLine => ({ at: 0, kind: 'refused', upstream: null, server: null, host: null, message: 'm', ...over });

describe('matching log lines to sites and upstreams', () => {
  it('by address, by host name, by the port of a resolved name, by the server name', () => {
    expect(attribute([shop], line({ upstream: '10.0.0.6:8081' }))).toEqual([{ siteId: 1, relation: 'upstream', upstreamId: '12' }]);
    expect(attribute([shop], line({ upstream: 'app.internal' }))).toEqual([{ siteId: 1, relation: 'upstream', upstreamId: '11' }]);
    // app.internal resolved by the gateway: only app-1 listens on 8080.
    expect(attribute([shop], line({ upstream: '10.0.0.5:8080' }))).toEqual([{ siteId: 1, relation: 'upstream', upstreamId: '11' }]);
    expect(attribute([shop], line({ server: 'APP-2' }))).toEqual([{ siteId: 1, relation: 'upstream', upstreamId: '12' }]);
  });

  it('an address that is none of the upstreams is foreign; a line without one concerns the site', () => {
    expect(attribute([shop], line({ upstream: '10.0.0.6:9999' }))).toEqual([{ siteId: 1, relation: 'foreign', upstreamId: null }]);
    expect(attribute([shop], line({ kind: 'invalid_header' }))).toEqual([{ siteId: 1, relation: 'site', upstreamId: null }]);
    expect(attribute([{ ...shop, upstreams: [] }], line({ upstream: '10.0.0.6:9999' }))).toEqual([{ siteId: 1, relation: 'site', upstreamId: null }]);
  });

  it('a shared file: the Host or the upstream tells the sites apart, and nothing is guessed', () => {
    expect(attribute([shop, blog], line({ upstream: '10.0.0.9:80' }))).toEqual([{ siteId: 2, relation: 'upstream', upstreamId: '21' }]);
    expect(attribute([shop, blog], line({ upstream: '10.0.0.1:7000', host: 'blog.example.com' }))).toEqual([{ siteId: 2, relation: 'foreign', upstreamId: null }]);
    expect(attribute([shop, blog], line({ upstream: '10.0.0.1:7000' }))).toEqual([]);
    expect(attribute([shop, blog], line({ upstream: '10.0.0.6:8081', host: 'other.example.com' }))).toEqual([]);
    expect(attribute([shop, blog], line({ upstream: '10.0.0.6:8081', host: 'shop.example.com:443' }))).toEqual([{ siteId: 1, relation: 'upstream', upstreamId: '12' }]);
  });
});
