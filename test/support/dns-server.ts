/**
 * A real authoritative-style DNS server on loopback (UDP, and TCP on the same port) for tests.
 * Point a resolver at `servers` (e.g. `createResolver({ servers: dns.servers })`) and script the
 * answers:
 *
 *   const dns = await startDnsServer();            // 127.0.0.1; startDnsServer({ host: '::1' }) for IPv6
 *   dns.setA('app.test', ['127.0.0.1']);   // A answer; AAAA for app.test -> NOERROR, no data
 *   dns.setAAAA('app.test', ['::1']);
 *   dns.setCname('www.test', 'app.test');  // answers the chain plus app.test's records
 *   dns.remove('app.test');                // -> NXDOMAIN (as for every unknown name)
 *   dns.setServfail('app.test');           // -> SERVFAIL
 *   dns.setRcode('app.test', 'REFUSED');   // -> REFUSED (or FORMERR, NOTIMP, SERVFAIL)
 *   dns.setSilent('app.test');             // queries are never answered
 *   dns.setSilent('app.test', ['AAAA']);   // only AAAA queries go unanswered
 *   dns.setDelay('app.test', 200);         // answers (whatever they are) 200 ms late
 *   dns.setDrop('app.test', 2);            // the next 2 queries for the name go unanswered
 *   dns.setMalformed('app.test');          // replies with the right id but a broken packet
 *   dns.setTruncated('app.test');          // UDP replies have TC set and no answers; TCP answers in full
 *   dns.setTruncated('app.test', 'no-question');  // ... TC set and no question section either
 *   dns.setTruncated('app.test', 'cut');   // ... TC set, the packet cut in the middle of a record
 *   dns.setCname('www.test', 'app.test', { follow: false });  // only the CNAME, as a non-recursive server answers
 *   dns.setSpoof('app.test', 'id', ['6.6.6.6']);  // a forged reply first (wrong id, port or question)
 *   dns.setExtraAnswers('app.test', [record]);     // records appended to every answer for the name
 *   await dns.close();
 *
 * Names are matched case-insensitively, without a trailing dot. TTLs are 0. Every query is logged
 * in `queries`, with the source port it came from.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

type Mode = 'answer' | 'rcode' | 'silent' | 'malformed' | 'truncated';
export type DnsErrorRcode = 'FORMERR' | 'SERVFAIL' | 'NOTIMP' | 'REFUSED';
/** How a forged reply differs from the real one: its id, its source port, or its question name. */
export type SpoofKind = 'id' | 'port' | 'question';
/**
 * How a truncated UDP reply looks: `empty` (TC, the question, no answer), `no-question` (TC and a
 * bare header, as some servers send), `cut` (TC, and the datagram stops inside an answer record).
 */
export type TruncationStyle = 'empty' | 'no-question' | 'cut';

interface Zone {
  a: string[];
  aaaa: string[];
  cname: string | null;
  /** Answer the CNAME alone, without the target's records (an authoritative server of another zone). */
  cnameOnly: boolean;
  mode: Mode;
  truncation: TruncationStyle;
  rcode: number;
  /** With mode 'silent': the query types left unanswered; empty = all. */
  silentTypes: string[];
  delayMs: number;
  /** Queries still to drop before answering again. */
  drop: number;
  spoof: { kind: SpoofKind; addresses: string[] } | null;
  extra: dnsPacket.Answer[];
}

export interface DnsQueryLog {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  /** The source port the query came from (the resolver's socket or connection). */
  port: number;
}

export interface DnsServer {
  port: number;
  /** Ready for `createResolver({ servers })`: `['127.0.0.1:PORT']` (or `['[::1]:PORT']`). */
  servers: string[];
  /** Answer A queries with `addresses` (a per-type silence set by `setSilent` stays). */
  setA(name: string, addresses: string[]): void;
  setAAAA(name: string, addresses: string[]): void;
  /** The name is an alias of `target`: answers carry the CNAME chain and the final name's records. */
  setCname(name: string, target: string, options?: { follow?: boolean }): void;
  /** Forget the name: it answers NXDOMAIN again. */
  remove(name: string): void;
  setServfail(name: string): void;
  /** Answer every query for the name with this error code. */
  setRcode(name: string, rcode: DnsErrorRcode): void;
  /** Leave queries for the name unanswered: all of them, or only those of `types`. */
  setSilent(name: string, types?: ('A' | 'AAAA')[]): void;
  /** Delay every answer for the name by `ms` (0 to stop). */
  setDelay(name: string, ms: number): void;
  /** Leave the next `count` queries for the name (any type, UDP) unanswered. */
  setDrop(name: string, count: number): void;
  /** Reply to UDP queries for the name with the query's id and a packet that does not parse. */
  setMalformed(name: string): void;
  /** Reply over UDP with the TC bit (see `TruncationStyle`); TCP queries get the whole answer. */
  setTruncated(name: string, style?: TruncationStyle): void;
  /** Before each real UDP reply, send a forged one carrying `addresses` (null to stop). */
  setSpoof(name: string, kind: SpoofKind | null, addresses?: string[]): void;
  /** Append these records to every answer section for the name (records of other names, say). */
  setExtraAnswers(name: string, answers: dnsPacket.Answer[]): void;
  /** Every query received, oldest first. */
  readonly queries: readonly DnsQueryLog[];
  /** Forged replies sent so far. */
  readonly forged: number;
  close(): Promise<void>;
}

const RCODES: Record<DnsErrorRcode | 'NOERROR' | 'NXDOMAIN', number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer({ host = '127.0.0.1' }: { host?: '127.0.0.1' | '::1' } = {}): Promise<DnsServer> {
  const zones = new Map<string, Zone>();
  const queries: DnsQueryLog[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const tcpConnections = new Set<net.Socket>();
  const type = host === '::1' ? 'udp6' : 'udp4';
  let forged = 0;
  let closed = false;

  const zone = (name: string): Zone => {
    let z = zones.get(key(name));
    if (!z) {
      z = { a: [], aaaa: [], cname: null, cnameOnly: false, truncation: 'empty', mode: 'answer', rcode: 0, silentTypes: [], delayMs: 0, drop: 0, spoof: null, extra: [] };
      zones.set(key(name), z);
    }
    return z;
  };

  /** The answer section and rcode for a question, following CNAMEs as a recursive server would. */
  const answer = (question: dnsPacket.Question, z: Zone): { rcode: number; answers: dnsPacket.Answer[] } => {
    const answers: dnsPacket.Answer[] = [];
    let owner = question.name;
    let current: Zone | undefined = z;
    for (let hops = 0; current?.cname && hops < 8; hops++) {
      answers.push({ type: 'CNAME', name: owner, class: 'IN', ttl: 0, data: current.cname });
      if (current.cnameOnly) return { rcode: RCODES.NOERROR, answers };
      owner = current.cname;
      current = zones.get(key(owner));
    }
    if (!current) return { rcode: RCODES.NXDOMAIN, answers };
    if (question.type === 'A' || question.type === 'AAAA') {
      const list = question.type === 'A' ? current.a : current.aaaa;
      for (const data of list) answers.push({ type: question.type, name: owner, class: 'IN', ttl: 0, data });
    }
    answers.push(...z.extra);
    return { rcode: RCODES.NOERROR, answers };
  };

  const encodeReply = (query: dnsPacket.DecodedPacket, question: dnsPacket.Question, rcode: number, answers: dnsPacket.Answer[], extraFlags = 0) => {
    const recursionDesired = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    return dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | recursionDesired | extraFlags | rcode,
      questions: [question],
      answers,
    });
  };

  /** The reply to a query (null: none), as a server would build it for this transport. */
  const reply = (query: dnsPacket.DecodedPacket, transport: 'udp' | 'tcp', port: number): { packet: Buffer; z: Zone | undefined } | null => {
    const question = query.questions?.[0];
    if (!question) return null;
    queries.push({ name: question.name, type: question.type, transport, port });
    const z = zones.get(key(question.name));
    if (z?.mode === 'silent' && (z.silentTypes.length === 0 || z.silentTypes.includes(question.type))) return null;
    if (z && transport === 'udp' && z.drop > 0) {
      z.drop--;
      return null;
    }
    if (!z) return { packet: encodeReply(query, question, RCODES.NXDOMAIN, []), z };
    if (z.mode === 'rcode') return { packet: encodeReply(query, question, z.rcode, []), z };
    if (z.mode === 'malformed' && transport === 'udp') {
      // Header of a response with one answer, then the packet stops inside the question.
      const packet = Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 0x61]);
      packet.writeUInt16BE(query.id ?? 0, 0);
      return { packet, z };
    }
    if (z.mode === 'truncated' && transport === 'udp') {
      if (z.truncation === 'empty') return { packet: encodeReply(query, question, RCODES.NOERROR, [], dnsPacket.TRUNCATED_RESPONSE), z };
      const { rcode, answers } = answer(question, z);
      const whole = encodeReply(query, question, rcode, answers, dnsPacket.TRUNCATED_RESPONSE);
      if (z.truncation === 'cut') return { packet: whole.subarray(0, whole.length - 10), z };
      // The header alone, its counts zeroed: no question section at all.
      const bare = Buffer.from(whole.subarray(0, 12));
      bare.fill(0, 4, 12);
      return { packet: bare, z };
    }
    const { rcode, answers } = answer(question, z);
    return { packet: encodeReply(query, question, rcode, answers), z };
  };

  const setRcode = (name: string, rcode: DnsErrorRcode) => {
    const z = zone(name);
    z.mode = 'rcode';
    z.rcode = RCODES[rcode];
  };

  const later = (z: Zone | undefined, send: () => void) => {
    if (z && z.delayMs > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, z.delayMs);
      timers.add(timer);
    } else {
      send();
    }
  };

  function serveTcp(connection: net.Socket) {
    tcpConnections.add(connection);
    connection.on('close', () => tcpConnections.delete(connection));
    connection.on('error', () => {});
    let buffered: Buffer = Buffer.alloc(0);
    connection.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const length = buffered.readUInt16BE(0);
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        let query: dnsPacket.DecodedPacket;
        try {
          query = dnsPacket.decode(message);
        } catch {
          connection.destroy();
          return;
        }
        const result = reply(query, 'tcp', connection.remotePort ?? 0);
        if (!result) continue;
        later(result.z, () => {
          if (closed || connection.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(result.packet.length);
          connection.write(Buffer.concat([prefix, result.packet]));
        });
      }
    });
  }

  const tcp = net.createServer((connection) => serveTcp(connection));
  const { socket, port } = await bindSamePort(type, host, tcp);
  const spoofer = dgram.createSocket(type);
  await new Promise<void>((resolve) => spoofer.bind(0, host, () => resolve()));

  const sendForged = (query: dnsPacket.DecodedPacket, z: Zone, remote: dgram.RemoteInfo) => {
    const question = query.questions![0];
    const spoof = z.spoof!;
    const list = spoof.addresses;
    const forgedQuestion = spoof.kind === 'question' ? { ...question, name: `forged.${question.name}` } : question;
    const answers: dnsPacket.Answer[] =
      question.type === 'A' || question.type === 'AAAA'
        ? list.filter((a) => (question.type === 'A') === !a.includes(':')).map((data) => ({ type: question.type as 'A' | 'AAAA', name: forgedQuestion.name, class: 'IN', ttl: 0, data }))
        : [];
    const packet = encodeReply({ ...query, id: spoof.kind === 'id' ? ((query.id ?? 0) + 1) & 0xffff : query.id }, forgedQuestion, RCODES.NOERROR, answers);
    forged++;
    (spoof.kind === 'port' ? spoofer : socket).send(packet, remote.port, remote.address);
  };

  socket.on('message', (message, remote) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const result = reply(query, 'udp', remote.port);
    if (!result) return;
    if (result.z?.spoof && !closed) sendForged(query, result.z, remote);
    later(result.z, () => {
      if (!closed) socket.send(result.packet, remote.port, remote.address);
    });
  });

  return {
    port,
    servers: [host === '::1' ? `[::1]:${port}` : `${host}:${port}`],
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
    setCname(name, target, { follow = true } = {}) {
      const z = zone(name);
      z.mode = 'answer';
      z.cname = target;
      z.cnameOnly = !follow;
    },
    remove(name) {
      zones.delete(key(name));
    },
    setServfail(name) {
      setRcode(name, 'SERVFAIL');
    },
    setRcode,
    setSilent(name, types = []) {
      const z = zone(name);
      z.mode = 'silent';
      z.silentTypes = [...types];
    },
    setDelay(name, ms) {
      zone(name).delayMs = ms;
    },
    setDrop(name, count) {
      zone(name).drop = count;
    },
    setMalformed(name) {
      zone(name).mode = 'malformed';
    },
    setTruncated(name, style = 'empty') {
      const z = zone(name);
      z.mode = 'truncated';
      z.truncation = style;
    },
    setSpoof(name, kind, addresses = []) {
      zone(name).spoof = kind ? { kind, addresses: [...addresses] } : null;
    },
    setExtraAnswers(name, answers) {
      zone(name).extra = [...answers];
    },
    queries,
    get forged() {
      return forged;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      for (const connection of tcpConnections) connection.destroy();
      return Promise.all([
        new Promise<void>((resolve) => socket.close(() => resolve())),
        new Promise<void>((resolve) => spoofer.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]).then(() => undefined);
    },
  };
}

/** A UDP socket on a free port of `host`, and `tcp` listening on the same port number. */
async function bindSamePort(type: 'udp4' | 'udp6', host: string, tcp: net.Server): Promise<{ socket: dgram.Socket; port: number }> {
  for (let attempt = 0; ; attempt++) {
    // Room for a burst of queries while the test (same thread) is still sending them.
    const socket = dgram.createSocket({ type, recvBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const { port } = socket.address();
    const listening = await new Promise<boolean>((resolve) => {
      const taken = () => resolve(false);
      tcp.once('error', taken);
      tcp.listen(port, host, () => {
        tcp.off('error', taken);
        resolve(true);
      });
    });
    if (listening) return { socket, port };
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (attempt >= 10) throw new Error(`no port free for both UDP and TCP on ${host}`);
  }
}
