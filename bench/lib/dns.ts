/**
 * A minimal authoritative DNS responder on loopback (UDP), cheap enough for thousands of queries a
 * second: it reads the question straight from the packet and writes the answer by hand (no
 * decode/encode library on the hot path). `addressOf(name)` gives the IPv4 answer for a name, or
 * null for NXDOMAIN; AAAA queries of a known name get NOERROR with no data. TTL 0, so every probe
 * really asks.
 */
import dgram from 'node:dgram';

export interface BenchDns {
  port: number;
  queries(): number;
  close(): Promise<void>;
}

const TYPE_A = 1;

/** The question name (lower-cased, no trailing dot) and where the question ends, or null. */
function readQuestion(msg: Buffer): { name: string; end: number; qtype: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  let i = 12;
  const labels: string[] = [];
  while (i < msg.length) {
    const len = msg[i];
    if (len === 0) break;
    if (len > 63 || i + 1 + len > msg.length) return null;
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  const qtype = msg.readUInt16BE(i + 1);
  return { name: labels.join('.').toLowerCase(), end: i + 5, qtype };
}

export async function startBenchDns(addressOf: (name: string) => string | null, host = '127.0.0.1'): Promise<BenchDns> {
  const socket = dgram.createSocket('udp4');
  let count = 0;
  socket.on('message', (msg, remote) => {
    const q = readQuestion(msg);
    if (!q) return;
    count++;
    const address = addressOf(q.name);
    const answer = address !== null && q.qtype === TYPE_A;
    const out = Buffer.allocUnsafe(q.end + (answer ? 16 : 0));
    msg.copy(out, 0, 0, q.end);
    const rd = msg[2] & 0x01;
    out[2] = 0x84 | rd; // QR, AA, RD as asked
    out[3] = 0x80 | (address === null ? 3 : 0); // RA; NXDOMAIN or NOERROR
    out.writeUInt16BE(1, 4); // QDCOUNT
    out.writeUInt16BE(answer ? 1 : 0, 6); // ANCOUNT
    out.writeUInt32BE(0, 8); // NSCOUNT, ARCOUNT
    if (answer) {
      let o = q.end;
      out.writeUInt16BE(0xc00c, o); // the name: pointer to the question
      out.writeUInt16BE(TYPE_A, o + 2);
      out.writeUInt16BE(1, o + 4); // IN
      out.writeUInt32BE(0, o + 6); // TTL
      out.writeUInt16BE(4, o + 10);
      o += 12;
      for (const part of address!.split('.')) out[o++] = Number(part);
    }
    socket.send(out, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    port: socket.address().port,
    queries: () => count,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
