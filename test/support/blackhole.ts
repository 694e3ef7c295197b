/**
 * A port whose TCP connects hang, as behind a firewall that drops packets, made on loopback: a
 * listening socket with a backlog of 1 in a child process that is then stopped (SIGSTOP), its
 * accept queue filled by two connections that are never accepted. Linux drops every further SYN
 * to a full accept queue, so a connect neither completes nor is refused: it times out.
 *
 *   const hole = await startBlackhole('127.0.0.1', port);   // port 0: any free port
 *   // net.connect(hole.port) now hangs until the caller's own time-out
 *   await hole.close();                                      // the port is free again
 *
 * A child process rather than a server in the test's own process: libuv accepts every
 * connection as soon as it arrives, so an in-process listener never lets its queue fill.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { waitFor } from './wait.js';

export interface Blackhole {
  host: string;
  port: number;
  close(): Promise<void>;
}

// Started first and told to listen by a line on stdin: the port is taken over within a few ms of
// its previous owner closing it (a caller swapping a server for a blackhole leaves almost no gap).
const LISTENER = `
const server = require('node:net').createServer();
server.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
process.stdin.once('data', () => server.listen({ host: process.argv[1], port: Number(process.argv[2]), backlog: 1 }, () => process.stdout.write('port ' + server.address().port + '\\n')));
process.stdout.write('ready\\n');
`;

const connects = (host: string, port: number, withinMs: number) =>
  new Promise<net.Socket | null>((resolve) => {
    const socket = net.connect({ host, port });
    socket.on('error', () => resolve(null));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, withinMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });

/**
 * A port on `host` where connects hang (see the file's comment); `port` 0 picks a free one.
 * `beforeListen` runs once the helper process is up, just before it binds: free the port there.
 */
export async function startBlackhole(host = '127.0.0.1', port = 0, beforeListen?: () => Promise<void>): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', LISTENER, host, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fillers: net.Socket[] = [];
  const close = async () => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    child.stdin?.destroy();
    child.stdout?.destroy();
  };
  try {
    const lines: string[] = [];
    let waiting: (() => void) | null = null;
    let text = '';
    child.stdout!.on('data', (d) => {
      text += String(d);
      const parts = text.split('\n');
      text = parts.pop()!;
      lines.push(...parts);
      waiting?.();
    });
    const exit = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`blackhole listener exited (${code}): ${[...lines, text].join(' ')}`))),
    );
    exit.catch(() => {});
    const nextLine = () =>
      Promise.race([
        new Promise<string>((resolve) => {
          const take = () => {
            if (lines.length === 0) return;
            waiting = null;
            resolve(lines.shift()!);
          };
          waiting = take;
          take();
        }),
        exit,
      ]);
    if ((await nextLine()) !== 'ready') throw new Error('blackhole listener did not start');
    await beforeListen?.();
    child.stdin!.write('go\n');
    const line = await nextLine();
    if (!line.startsWith('port ')) throw new Error(`blackhole listener: ${line}`);
    const bound = Number(line.slice(5));
    child.kill('SIGSTOP');
    // Fill the accept queue (backlog 1 holds two), then make sure the next connect hangs.
    await waitFor(
      async () => {
        const socket = await connects(host, bound, 300);
        if (socket) {
          fillers.push(socket);
          return false;
        }
        return fillers.length >= 2;
      },
      { timeoutMs: 5_000, message: `the accept queue of ${host}:${bound} to fill` },
    );
    return { host, port: bound, close };
  } catch (error) {
    await close();
    throw error;
  }
}
