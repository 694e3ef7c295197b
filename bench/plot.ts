/**
 * node --import tsx bench/plot.ts [--match scale-] [--out bench/results/scale.svg]
 *
 * Reads the results files whose label contains `--match`, and draws, against the number of
 * sites (log scale): CPU of the service process (% of one core), schedule lag p99 (ms) and the
 * share of due checks done (the lower of "on time" and "recorded"). One SVG, no dependencies.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { match: { type: 'string', default: 'scale-' }, out: { type: 'string' } },
});
const dir = fileURLToPath(new URL('./results/', import.meta.url));
const out = args.out ?? join(dir, 'scale.svg');

interface Point {
  sites: number;
  cpu: number;
  lagP99: number;
  onTime: number;
  recorded: number;
  msPerCheck: number;
}

const points: Point[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f.includes(args.match!))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .map((r) => ({ sites: r.params.sites, cpu: r.cpu.pctOfOneCore, lagP99: r.lagMs.p99, onTime: r.window.onTimePct, recorded: r.window.recordedPct, msPerCheck: r.cpu.msPerCheck }))
  .sort((a, b) => a.sites - b.sites);
if (points.length === 0) throw new Error(`no results matching "${args.match}" in ${dir}`);

const W = 760;
const H = 420;
const M = { left: 70, right: 70, top: 40, bottom: 60 };
const xs = points.map((p) => p.sites);
const [xMin, xMax] = [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3];
const x = (v: number) => M.left + ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (W - M.left - M.right);
const cpuMax = Math.max(200, ...points.map((p) => p.cpu)) * 1.05;
const yCpu = (v: number) => H - M.bottom - (v / cpuMax) * (H - M.top - M.bottom);
const lagMax = Math.max(100, ...points.map((p) => p.lagP99)) * 1.1;
const yLag = (v: number) => H - M.bottom - (v / lagMax) * (H - M.top - M.bottom);

const path = (pts: [number, number][]) => pts.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
const ticks = [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000].filter((v) => v >= xMin && v <= xMax);
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">Gatewatch on one 2-core machine: sites at 60 s, loopback targets</text>
<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>
<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#1f77b4"/>
<line x1="${W - M.right}" y1="${M.top}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#d62728"/>
${ticks.map((v) => `<line x1="${x(v)}" y1="${H - M.bottom}" x2="${x(v)}" y2="${H - M.bottom + 5}" stroke="#333"/><text x="${x(v)}" y="${H - M.bottom + 18}" text-anchor="middle">${v >= 1000 ? `${v / 1000}k` : v}</text>`).join('\n')}
<text x="${W / 2}" y="${H - 15}" text-anchor="middle">sites (1 upstream each; log scale)</text>
${[0, 50, 100, 150, 200].filter((v) => v <= cpuMax).map((v) => `<text x="${M.left - 8}" y="${yCpu(v) + 4}" text-anchor="end" fill="#1f77b4">${v}</text><line x1="${M.left}" y1="${yCpu(v)}" x2="${W - M.right}" y2="${yCpu(v)}" stroke="#eee"/>`).join('\n')}
<text transform="translate(18,${H / 2}) rotate(-90)" text-anchor="middle" fill="#1f77b4">CPU, % of one core (of 200)</text>
${[0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * lagMax)).map((v) => `<text x="${W - M.right + 8}" y="${yLag(v) + 4}" fill="#d62728">${v}</text>`).join('\n')}
<text transform="translate(${W - 18},${H / 2}) rotate(90)" text-anchor="middle" fill="#d62728">schedule lag p99, ms</text>
<path d="${path(points.map((p) => [x(p.sites), yCpu(p.cpu)]))}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path d="${path(points.map((p) => [x(p.sites), yLag(p.lagP99)]))}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4"/>
${points
  .map(
    (p) => `<circle cx="${x(p.sites)}" cy="${yCpu(p.cpu)}" r="4" fill="#1f77b4"/><circle cx="${x(p.sites)}" cy="${yLag(p.lagP99)}" r="4" fill="#d62728"/>
<text x="${x(p.sites)}" y="${yCpu(p.cpu) - 9}" text-anchor="middle" font-size="10" fill="#1f77b4">${p.cpu}% · ${Math.min(p.onTime, p.recorded)}% done</text>`,
  )
  .join('\n')}
</svg>
`;
writeFileSync(out, svg);
process.stdout.write(`wrote ${out} (${points.length} runs)\n`);
