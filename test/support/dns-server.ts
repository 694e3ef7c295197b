/**
 * A real authoritative-style DNS server on 127.0.0.1 (UDP, port 0) for tests. Point a resolver at
 * `servers` (e.g. `createResolver({ servers: dns.servers })`) and script the answers:
 *
 *   const dns = await startDnsServer();
 *   dns.setA('app.test', ['127.0.0.1']);   // A answer; AAAA for app.test -> NOERROR, no data
 *   dns.setAAAA('app.test', ['::1']);
 *   dns.remove('app.test');                // -> NXDOMAIN (as for every unknown name)
 *   dns.setServfail('app.test');           // -> SERVFAIL
 *   dns.setSilent('app.test');             // queries are never answered
 *   dns.setSilent('app.test', ['AAAA']);   // only AAAA queries go unanswered
 *   dns.setDelay('app.test', 200);         // answers (whatever they are) 200 ms late
 *   await dns.close();
 *
 * Names are matched case-insensitively, without a trailing dot. TTLs are 0. Every query is logged
 * in `queries`. No TCP.
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

type Mode = 'answer' | 'servfail' | 'silent';

interface Zone {
  a: string[];
  aaaa: string[];
  mode: Mode;
  /** With mode 'silent': the query types left unanswered; empty = all. */
  silentTypes: string[];
  delayMs: number;
}

export interface DnsQueryLog {
  name: string;
  type: string;
}

export interface DnsServer {
  port: number;
  /** Ready for `createResolver({ servers })`: `['127.0.0.1:PORT']`. */
  servers: string[];
  /** Answer A queries with `addresses` (a per-type silence set by `setSilent` stays). */
  setA(name: string, addresses: string[]): void;
  setAAAA(name: string, addresses: string[]): void;
  /** Forget the name: it answers NXDOMAIN again. */
  remove(name: string): void;
  setServfail(name: string): void;
  /** Leave queries for the name unanswered: all of them, or only those of `types`. */
  setSilent(name: string, types?: ('A' | 'AAAA')[]): void;
  /** Delay every answer for the name by `ms` (0 to stop). */
  setDelay(name: string, ms: number): void;
  /** Every query received, oldest first. */
  readonly queries: readonly DnsQueryLog[];
  close(): Promise<void>;
}

const RCODE_NOERROR = 0;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer(): Promise<DnsServer> {
  const zones = new Map<string, Zone>();
  const queries: DnsQueryLog[] = [];
  const socket = dgram.createSocket('udp4');
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const zone = (name: string): Zone => {
    let z = zones.get(key(name));
    if (!z) {
      z = { a: [], aaaa: [], mode: 'answer', silentTypes: [], delayMs: 0 };
      zones.set(key(name), z);
    }
    return z;
  };

  socket.on('message', (message, remote) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    queries.push({ name: question.name, type: question.type });
    const z = zones.get(key(question.name));
    if (z?.mode === 'silent' && (z.silentTypes.length === 0 || z.silentTypes.includes(question.type))) return;

    let rcode = RCODE_NOERROR;
    let answers: dnsPacket.Answer[] = [];
    if (!z) rcode = RCODE_NXDOMAIN;
    else if (z.mode === 'servfail') rcode = RCODE_SERVFAIL;
    else if (question.type === 'A' || question.type === 'AAAA') {
      const list = question.type === 'A' ? z.a : z.aaaa;
      answers = list.map((data) => ({ type: question.type as 'A' | 'AAAA', name: question.name, class: 'IN', ttl: 0, data }));
    }

    const recursionDesired = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | recursionDesired | rcode,
      questions: [question],
      answers,
    });
    const send = () => {
      if (!closed) socket.send(reply, remote.port, remote.address);
    };
    if (z && z.delayMs > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, z.delayMs);
      timers.add(timer);
    } else {
      send();
    }
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { port } = socket.address();

  return {
    port,
    servers: [`127.0.0.1:${port}`],
    setA(name, addresses) {
      const z = zone(name);
      if (z.mode !== 'silent' || z.silentTypes.length === 0) z.mode = 'answer';
      z.a = [...addresses];
    },
    setAAAA(name, addresses) {
      const z = zone(name);
      if (z.mode !== 'silent' || z.silentTypes.length === 0) z.mode = 'answer';
      z.aaaa = [...addresses];
    },
    remove(name) {
      zones.delete(key(name));
    },
    setServfail(name) {
      zone(name).mode = 'servfail';
    },
    setSilent(name, types = []) {
      const z = zone(name);
      z.mode = 'silent';
      z.silentTypes = [...types];
    },
    setDelay(name, ms) {
      zone(name).delayMs = ms;
    },
    queries,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
