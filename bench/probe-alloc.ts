/**
 * node --import tsx bench/probe-alloc.ts [--probes 3000] [--per-tick 5] [--out FILE.heapprofile]
 *
 * What one probe allocates, alone: the bench's targets and DNS server in a forked process, the
 * service's own probe (createProbeFromOptions, as PROBE_THREADS=0 runs it) fired in batches of
 * `--per-tick` every 10 ms after a warm-up of as many probes. Prints the V8 heap bytes allocated
 * per probe (a sampling heap profile that keeps what minor and major collections freed, so every
 * allocation counts) and the top allocation sites; the young generation's garbage is what the
 * scavenges of a quiet service mostly are. A count, not a timing: CPU figures need `npm run bench`.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createProbeFromOptions } from '../src/probes/probe.pool.js';
import { forkTargets } from './lib/child.js';
import { siteName } from './lib/names.js';

const { values: args } = parseArgs({
  options: {
    probes: { type: 'string', default: '3000' },
    'per-tick': { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
const probes = Number(args.probes);
const perTick = Number(args['per-tick']);

const targets = forkTargets();
try {
  const t = await targets.send<{ ports: number[]; dnsPort: number }>({ cmd: 'start', hosts: 8, ports: 4 });
  const probe = createProbeFromOptions({ dnsServers: [`127.0.0.1:${t.dnsPort}`] });
  const urls = Array.from({ length: 1000 }, (_, i) => `http://${siteName(i)}:${t.ports[i % t.ports.length]}/`);
  const run = async (n: number) => {
    const outcomes: Record<string, number> = {};
    for (let done = 0; done < n; ) {
      const batch = [];
      for (let i = 0; i < perTick && done < n; i++, done++) {
        batch.push(probe({ url: urls[done % urls.length], timeoutMs: 5000, expectedStatus: [200, 399] }));
      }
      for (const r of await Promise.all(batch)) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 10));
    }
    return outcomes;
  };
  await run(probes);
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  const outcomes = await run(probes);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  if (args.out) writeFileSync(args.out, JSON.stringify(profile));
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: (typeof profile)['head']) => {
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  console.log(`${probes} probes ${JSON.stringify(outcomes)}: ${Math.round(total / probes)} B allocated per probe`);
  for (const [key, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${String(Math.round(bytes / probes)).padStart(7)} B  ${key}`);
  }
} finally {
  await targets.stop();
}
