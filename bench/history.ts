/**
 * node --import tsx bench/history.ts [--match TEXT]
 *
 * Prints one Markdown table row per results file (oldest first), in the columns of the history
 * table in bench/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { match: { type: 'string', default: '' } } });
const dir = fileURLToPath(new URL('./results/', import.meta.url));
const kb = (b: number) => (b >= 1024 ? `${(b / 1024).toFixed(1)} KB` : `${b} B`);
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json') && f.includes(args.match!)).sort()) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const st = r.status;
  const cells = [
    `[${f}](results/${f})`,
    `${r.git.commit ?? '?'}${r.git.dirty ? '+' : ''}`,
    `${r.params.sites.toLocaleString('en')} x ${1 + r.params.upstreams} @ ${r.params.intervalS} s`,
    `${r.window.onTimePct} %`,
    `${r.lagMs.p99} / ${r.lagMs.max}`,
    `${r.cpu.pctOfOneCore}`,
    `${r.cpu.msPerCheck} (${r.cpu.ratioToBareGet}x${r.cpu.ratioToPacedGetDns ? `; ${r.cpu.ratioToPacedGetDns}x paced` : ''})`,
    kb(r.io?.writtenPerCheck ?? 0),
    `${r.memoryMB.rssPeak}`,
    st ? `${Math.round(st.latencyMs.p50)} / ${Math.round(st.latencyMs.p99)}${st.pageSize ? ` (pages of ${st.pageSize})` : ''}` : '-',
    `${Math.round(r.creation.perSecond)}`,
    `${r.db.bytesPerCheck}`,
  ];
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}
