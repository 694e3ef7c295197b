/**
 * CPU time per thread of this process (Linux: /proc/self/task), grouped by thread name, in ms.
 * Shows what process.cpuUsage() lumps together: the main thread, V8's GC and compiler threads,
 * libuv's pool, a loader's hooks thread.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ = 100 on Linux

export function threadCpu(byTid = false): Record<string, number> {
  const out: Record<string, number> = {};
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(rest[11]) + Number(rest[12])) * TICK_MS;
      // Node 20 names every thread "node": by tid, the offset from the main thread's tells them
      // apart (V8's platform workers start right after it; libuv's pool and workers later).
      const key = tid === String(process.pid) ? 'main' : byTid ? `${name}+${Number(tid) - process.pid}` : name.replace(/\d+$/, '#');
      out[key] = (out[key] ?? 0) + ms;
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}

export function diffThreads(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** Bytes this process wrote (Linux /proc/self/io: `wchar` through write calls, `write_bytes` to storage). */
export function ioWritten(): { wchar: number; writeBytes: number } {
  try {
    const text = readFileSync('/proc/self/io', 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    return { wchar: field('wchar'), writeBytes: field('write_bytes') };
  } catch {
    return { wchar: 0, writeBytes: 0 };
  }
}
