/**
 * The ceiling every figure is read against: what a bare fresh-connection GET costs this process
 * (client CPU), measured back to back in the same run, before the service starts.
 */
import { promises as dnsPromises } from 'node:dns';
import http from 'node:http';
import { round } from './stats.js';

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function get(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export interface Ceiling {
  requests: number;
  /** CPU ms per `http.get` with `agent: false`, by IP, back to back. */
  bareGetCpuMs: number;
  /** The same with the name resolved first (A and AAAA through the bench DNS, as a probe does). */
  bareGetDnsCpuMs: number;
}

export async function measureCeiling(opts: { host: string; port: number; name: string; dnsPort: number; requests: number }): Promise<Ceiling> {
  for (let i = 0; i < 200; i++) await get(opts.host, opts.port); // warm up the JIT
  let c0 = cpuMs();
  for (let i = 0; i < opts.requests; i++) await get(opts.host, opts.port);
  const bare = (cpuMs() - c0) / opts.requests;

  const resolver = new dnsPromises.Resolver({ tries: 1 });
  resolver.setServers([`127.0.0.1:${opts.dnsPort}`]);
  for (let i = 0; i < 200; i++) await Promise.all([resolver.resolve4(opts.name), resolver.resolve6(opts.name).catch(() => [])]);
  c0 = cpuMs();
  for (let i = 0; i < opts.requests; i++) {
    const [v4] = await Promise.all([resolver.resolve4(opts.name), resolver.resolve6(opts.name).catch(() => [])]);
    await get(v4[0], opts.port);
  }
  const withDns = (cpuMs() - c0) / opts.requests;
  return { requests: opts.requests, bareGetCpuMs: round(bare, 4)!, bareGetDnsCpuMs: round(withDns, 4)! };
}
