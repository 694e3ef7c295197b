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

const LISTENER = `
const server = require('node:net').createServer();
server.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
server.listen({ host: process.argv[1], port: Number(process.argv[2]), backlog: 1 }, () => process.stdout.write('port ' + server.address().port + '\\n'));
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

/** A port on `host` where connects hang (see the file's comment); `port` 0 picks a free one. */
export async function startBlackhole(host = '127.0.0.1', port = 0): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', LISTENER, host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fillers: net.Socket[] = [];
  const close = async () => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (d) => {
        text += String(d);
        if (text.includes('\n')) resolve(text.trim());
      });
      child.once('exit', (code) => reject(new Error(`blackhole listener exited (${code}): ${text.trim()}`)));
    });
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
