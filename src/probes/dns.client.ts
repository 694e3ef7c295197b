/**
 * DNS over UDP (and over TCP after a truncated reply) to the configured servers: the wire client
 * behind `createResolver({ servers })` in dns.resolver.ts. It asks one question (A or AAAA of a
 * name) and answers with its addresses or a code as c-ares gave it; turning the two answers of a
 * resolution into addresses or a `DnsFailure` is the resolver's part.
 *
 * Why it exists: c-ares (node's `dns.Resolver`) opened and closed a UDP socket per query, two per
 * resolution. This client keeps one connected socket per server and replaces it every
 * `MAX_QUERIES_PER_SOCKET` queries or every `MAX_SOCKET_AGE_MS` (1 s), so that the source port,
 * picked at random by the OS, still changes often enough that an off-path forger has to guess it
 * as well as the 16-bit id, while the cost of a socket is spread over many queries. A connected
 * socket also receives ICMP port unreachable, so a server with nothing listening fails at once
 * (`ECONNREFUSED`), as it did with c-ares.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net, { isIP } from 'node:net';
import { decodeReply, encodeQuestion, type DnsReply, type QueryType } from './dns.wire.js';

/** The answer to one question: its addresses, or none and the code of why (c-ares' codes: `ENODATA`, `ETIMEOUT`, ...). */
export interface FamilyAnswer {
  addresses: string[];
  code: string | null;
  /**
   * A NOERROR answer without addresses whose CNAME chain ends at another name (a server that
   * does not recurse, or one that gave up): that name, for `ask` to follow.
   */
  cname?: string;
}

/** CNAMEs `ask` follows to another query before it refuses the name (`ECNAME`). */
export const MAX_CNAME_FOLLOWS = 8;

/** Counters of the DNS client (see `ResolverStats`). */
export interface DnsClientStats {
  /** Queries awaiting a reply: ids registered on the UDP sockets, plus TCP exchanges open. */
  pending: number;
  /** UDP replies dropped because no pending query has their id, source and question (spoofed, late or stray). */
  ignoredReplies: number;
  /**
   * UDP sockets open: at most one current socket per server (closed within about a second of
   * idleness), plus retired ones until their last pending query settles.
   */
  sockets: number;
}

/** The `code` of a system error (`ECONNREFUSED`, ...), `EUNKNOWN` when it has none. */
export const codeOf = (error: unknown): string =>
  typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'EUNKNOWN';

/** Numeric parts of an address for ordering; unparsable strings sort by text after the parts. */
export function addressKey(address: string): number[] {
  if (isIP(address) === 4) return address.split('.').map(Number);
  if (isIP(address) !== 6) return [];
  const [head, tail = ''] = address.split('%')[0].split('::');
  const toGroups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (g.includes('.')) {
            const o = g.split('.').map(Number);
            return [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
          }
          return [parseInt(g, 16)];
        });
  const left = toGroups(head);
  const right = address.includes('::') ? toGroups(tail) : [];
  return [...left, ...new Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0), ...right];
}

/** A DNS server of `ResolverOptions.servers`. */
export interface DnsServerAddress {
  /** Position in the configured list. */
  index: number;
  host: string;
  port: number;
  family: 4 | 6;
  /** `host` as a reply's source address reads (IPv6 in inet_ntop's form). */
  source: string;
}

/** Validates `host[:port]` entries (IPv6 as `[::1]:53`; port 53 when absent). */
export function parseServers(servers: string[]): DnsServerAddress[] {
  return servers.map((entry, index) => {
    const s = entry.trim();
    let host = s;
    let port: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (bracketed) {
      host = bracketed[1];
      port = bracketed[2];
    } else if (isIP(s) !== 6) {
      const m = /^([^:]+)(?::(\d+))?$/.exec(s);
      if (m) {
        host = m[1];
        port = m[2];
      }
    }
    const family = isIP(host);
    const portNumber = port === undefined ? 53 : Number(port);
    if (family === 0 || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
      throw new Error(`invalid DNS server "${entry}": expected an IP address with an optional port, e.g. 10.0.0.2:53 or [::1]:53`);
    }
    return family === 6
      ? { index, host, port: portNumber, family: 6, source: canonicalIPv6(host) }
      : { index, host, port: portNumber, family: 4, source: host };
  });
}

/**
 * IPv6 text as inet_ntop writes it, which is what c-ares returned and what a reply's source
 * address reads: RFC 5952 (the longest run of zero groups shortened), but IPv4-mapped and
 * -compatible addresses with a dotted tail (`::ffff:1.2.3.4`).
 */
function canonicalIPv6(address: string): string {
  const words = addressKey(address);
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w))) return address;
  let base = -1;
  let length = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] !== 0) continue;
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > length) {
      base = i;
      length = end - i;
    }
    i = end;
  }
  if (length < 2) base = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (base !== -1 && i >= base && i < base + length) {
      if (i === base) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && base === 0 && (length === 6 || (length === 5 && words[5] === 0xffff))) {
      return `${text}${words[6] >> 8}.${words[6] & 0xff}.${words[7] >> 8}.${words[7] & 0xff}`;
    }
    text += words[i].toString(16);
  }
  return base !== -1 && base + length === 8 ? `${text}:` : text;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** SERVFAIL, NOTIMP and REFUSED end only the try: the next one may ask another server (as c-ares does). */
const RETRIED_RCODES: Record<number, string> = {
  [RCODE.SERVFAIL]: 'ESERVFAIL',
  [RCODE.NOTIMP]: 'ENOTIMP',
  [RCODE.REFUSED]: 'EREFUSED',
};

const rcodeOf = (reply: DnsReply): number => (reply.flags ?? 0) & 0xf;

export type { QueryType } from './dns.wire.js';

/** One question (A or AAAA of a name) on its way through its tries. */
interface Query {
  /** Lower-cased, without a trailing dot. */
  readonly name: string;
  readonly type: QueryType;
  /** The servers in the order this query tries them (repeated for each round). */
  readonly order: readonly DnsServerAddress[];
  /** The encoded question; its first two bytes are `id`. */
  readonly packet: Buffer;
  id: number;
  /** The UDP socket `id` is registered on, while a reply over UDP is awaited. */
  socket: UdpSocket | undefined;
  /** The TCP connection of a try after a truncated reply. */
  tcp: net.Socket | undefined;
  /** The current try, from 0: `order[try % order.length]` is the server asked now. */
  try: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
  onAnswer(answer: FamilyAnswer): void;
}

/**
 * Queries one UDP socket carries before the next query opens a fresh socket, and with it a fresh
 * source port that the OS picks at random. c-ares took a new port for every query, so that an
 * off-path forger has to guess the port as well as the 16-bit id; one port for every query would
 * leave only the id to guess. 32 keeps that: a port is in use for at most 32 queries (16
 * resolutions) and at most `MAX_SOCKET_AGE_MS`, so that learning it is worth little and for little
 * time, while the cost of a socket (create, bind, connect, close: 35-65 µs of CPU) is spread over
 * 32 queries, 1-2 µs each, instead of being paid on each.
 */
export const MAX_QUERIES_PER_SOCKET = 32;

/** A socket takes new queries for at most this long: a slow trickle of queries changes port too. */
const MAX_SOCKET_AGE_MS = 1_000;

/** setTimeout fires at once (with a warning) beyond this: a time-out doubled many times stops here. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A UDP socket connected to one server: the kernel hands it only datagrams from that server's
 * address and port, and reports ICMP errors (port unreachable: `ECONNREFUSED`) on it.
 */
interface UdpSocket {
  readonly server: DnsServerAddress;
  readonly socket: dgram.Socket;
  /** Queries awaiting a reply on this socket by id: two never share an id. */
  readonly pending: Map<number, Query>;
  /** Queries given an id on this socket so far; the socket is retired at `MAX_QUERIES_PER_SOCKET`. */
  carried: number;
  /** While `connect` is under way: the queries whose datagram waits for it. Undefined once connected. */
  unsent: Query[] | undefined;
  /** Retires the socket `MAX_SOCKET_AGE_MS` after it was opened. */
  ageTimer: NodeJS.Timeout | undefined;
  /**
   * `current`: new queries to its server go here. `retired`: no new query; closed as soon as no
   * query is pending on it. `closed`.
   */
  state: 'current' | 'retired' | 'closed';
  /** The error that closed it (`ECANCELLED` when closed without one). */
  closedWith: string | undefined;
}

export interface DnsClient {
  /**
   * Asks one question; `onAnswer` is called once (possibly before `ask` returns), unless the
   * returned cancel function is called first: that drops the query, its timer and its id at once.
   */
  ask(name: string, type: QueryType, onAnswer: (answer: FamilyAnswer) => void): () => void;
  stats(): DnsClientStats;
}

/** Random 16-bit query ids, read from a crypto-random buffer refilled 1,024 ids at a time. */
function createIdSource(): () => number {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset >= pool.length) {
      pool = randomBytes(2_048);
      offset = 0;
    }
    const id = pool.readUInt16BE(offset);
    offset += 2;
    return id;
  };
}

/** The reply is to this question (name compared case-insensitively); an error reply may leave the question out. */
function answersQuestion(reply: DnsReply, query: Query): boolean {
  const questions = reply.questions ?? [];
  if (questions.length === 0) return rcodeOf(reply) !== RCODE.NOERROR && rcodeOf(reply) !== RCODE.NXDOMAIN;
  const [question] = questions;
  return (
    questions.length === 1 &&
    question.type === query.type &&
    (question.class ?? 'IN') === 'IN' &&
    question.name.toLowerCase() === query.name
  );
}

/**
 * The names of the CNAME chain from the query's name in the answer section, in chain order (the
 * query's name first; the last one is where the chain ends in this answer).
 */
function chainOf(reply: DnsReply, query: Query): string[] {
  const answers = reply.answers ?? [];
  const chain = [query.name];
  if (!answers.some((record) => record.type === 'CNAME')) return chain;
  const names = new Set(chain);
  for (let grew = true; grew; ) {
    grew = false;
    for (const record of answers) {
      if (record.type !== 'CNAME' || record.name.toLowerCase() !== chain[chain.length - 1]) continue;
      const target = (record.data as string).toLowerCase().replace(/\.$/, '');
      if (!names.has(target)) {
        names.add(target);
        chain.push(target);
        grew = true;
      }
    }
  }
  return chain;
}

/**
 * The addresses of the query's type in the answer section, for the name or a name of the CNAME
 * chain from it (a recursive server puts the chain and the target's records in one answer).
 * Records of other names and other types are ignored.
 */
function addressesIn(reply: DnsReply, query: Query, chain: string[]): string[] {
  const answers = reply.answers ?? [];
  // The usual answer has no alias: its records are of the query's name itself.
  const names = chain.length > 1 ? new Set(chain) : null;
  const addresses: string[] = [];
  for (const record of answers) {
    if ((record.type === 'A' || record.type === 'AAAA') && record.type === query.type) {
      const name = record.name.toLowerCase();
      if ((record.class ?? 'IN') !== 'IN' || !(names ? names.has(name) : name === query.name)) continue;
      const data = record.data as string;
      addresses.push(record.type === 'AAAA' ? canonicalIPv6(data) : data);
    }
  }
  return addresses;
}

/**
 * The DNS client behind `createResolver({ servers })`. Each server has one current UDP socket,
 * connected to it, `unref()`ed (an idle resolver never holds the process open). A socket takes at
 * most `MAX_QUERIES_PER_SOCKET` queries and takes them for at most `MAX_SOCKET_AGE_MS`; then it is
 * retired, the next query opens a fresh socket (a fresh random source port), and the retired one
 * is closed as soon as no query is pending on it. A reply counts only when its id, source address
 * and port and question match a pending query; others are counted and dropped.
 *
 * A query's try waits `timeoutMs` (doubled each round through the servers), then the next server
 * is asked; SERVFAIL, NOTIMP, REFUSED and a malformed reply end the try at once. An error on a
 * socket (ICMP port unreachable: `ECONNREFUSED`, as c-ares reported) closes it and ends the try of
 * every query pending on it, all of them to the same server. The servers that failed least since
 * their last good answer are tried first. A truncated reply is asked again over TCP of the same
 * server, so that the answer holds every address.
 */
export function createDnsClient(servers: readonly DnsServerAddress[], timeoutMs: number, tries: number): DnsClient {
  /** The current socket of each server, by `DnsServerAddress.index`. */
  const current: (UdpSocket | undefined)[] = servers.map(() => undefined);
  /** Every socket not closed yet: the current ones and the retired ones with queries pending. */
  const open = new Set<UdpSocket>();
  const failures = servers.map(() => 0);
  const nextId = createIdSource();
  const maxTries = tries * servers.length;
  let tcpOpen = 0;
  let ignoredReplies = 0;

  const serverOf = (query: Query) => query.order[query.try % query.order.length];

  const orderOfServers = (): readonly DnsServerAddress[] =>
    servers.length === 1 ? servers : [...servers].sort((a, b) => failures[a.index] - failures[b.index] || a.index - b.index);

  const openSocket = (server: DnsServerAddress): UdpSocket => {
    const socket = dgram.createSocket({
      type: server.family === 4 ? 'udp4' : 'udp6',
      // Server addresses are IP literals already: no dns.lookup (and its extra tick) on connect.
      lookup: (address, _options, callback) => callback(null, address, server.family),
    });
    const udp: UdpSocket = { server, socket, pending: new Map(), carried: 0, unsent: [], ageTimer: undefined, state: 'current', closedWith: undefined };
    socket.on('message', (message, from) => onMessage(udp, message, from));
    socket.on('error', (error) => dropSocket(udp, codeOf(error)));
    socket.on('close', () => dropSocket(udp, 'ECANCELLED'));
    socket.unref();
    open.add(udp);
    current[server.index] = udp;
    udp.ageTimer = setTimeout(retire, MAX_SOCKET_AGE_MS, udp).unref();
    // Binds an ephemeral port (the OS picks one at random), then connects. Datagrams queue in
    // `unsent` until the callback, rather than relying on dgram's own queue for a connecting socket.
    socket.connect(server.port, server.host, (error?: Error) => {
      if (error) return dropSocket(udp, codeOf(error));
      const waiting = udp.unsent ?? [];
      udp.unsent = undefined;
      for (const query of waiting) if (query.socket === udp) transmit(udp, query);
    });
    return udp;
  };

  /** Closes the socket; its pending queries are the caller's to settle. */
  const closeSocket = (udp: UdpSocket, code: string) => {
    udp.state = 'closed';
    udp.closedWith = code;
    udp.unsent = undefined;
    clearTimeout(udp.ageTimer);
    open.delete(udp);
    if (current[udp.server.index] === udp) current[udp.server.index] = undefined;
    try {
      udp.socket.close();
    } catch {
      // already closed
    }
  };

  /** No new query on this socket; it closes now if none is pending on it, else when the last one leaves. */
  const retire = (udp: UdpSocket) => {
    if (udp.state !== 'current') return;
    udp.state = 'retired';
    clearTimeout(udp.ageTimer);
    if (current[udp.server.index] === udp) current[udp.server.index] = undefined;
    if (udp.pending.size === 0) closeSocket(udp, 'ECANCELLED');
  };

  /** A socket that failed: closed, and every query pending on it loses its current try (all asked the same server). */
  const dropSocket = (udp: UdpSocket, code: string) => {
    if (udp.state === 'closed') return;
    closeSocket(udp, code);
    const stranded = [...udp.pending.values()];
    udp.pending.clear();
    for (const query of stranded) {
      query.socket = undefined;
      failTry(query, code);
    }
  };

  /** The query's id leaves its socket (which closes if it was retired and this was its last query). */
  const detach = (query: Query) => {
    const udp = query.socket;
    if (!udp) return;
    udp.pending.delete(query.id);
    query.socket = undefined;
    if (udp.state === 'retired' && udp.pending.size === 0) closeSocket(udp, 'ECANCELLED');
  };

  const startTimer = (query: Query) => {
    clearTimeout(query.timer);
    const round = Math.floor(query.try / query.order.length);
    query.timer = setTimeout(onTimeout, Math.min(timeoutMs * 2 ** round, MAX_TIMER_MS), query);
  };

  const onTimeout = (query: Query) => {
    query.timer = undefined;
    failTry(query, 'ETIMEOUT');
  };

  const closeTcp = (query: Query) => {
    if (!query.tcp) return;
    query.tcp.destroy();
    query.tcp = undefined;
    tcpOpen--;
  };

  /** Ends the query: no timer, no registered id, no connection left. */
  const release = (query: Query) => {
    query.done = true;
    clearTimeout(query.timer);
    query.timer = undefined;
    detach(query);
    closeTcp(query);
  };

  const complete = (query: Query, answer: FamilyAnswer) => {
    release(query);
    query.onAnswer(answer);
  };

  /**
   * Sends the current try over UDP, on the current socket of its server. The id stays while the
   * query stays on one socket, so that a late reply to an earlier try of the same server still
   * counts; a query that moves to another socket gets a new id there.
   */
  const send = (query: Query) => {
    const server = serverOf(query);
    const udp = current[server.index] ?? openSocket(server);
    // Opening failed at once (no file descriptor left, say): this try fails with that error.
    if (udp.state === 'closed') return failTry(query, udp.closedWith ?? 'ECANCELLED');
    if (query.socket !== udp) {
      detach(query);
      let id = nextId();
      while (udp.pending.has(id)) id = nextId();
      query.id = id;
      query.packet.writeUInt16BE(id, 0);
      udp.pending.set(id, query);
      query.socket = udp;
      if (++udp.carried >= MAX_QUERIES_PER_SOCKET) retire(udp);
    }
    startTimer(query);
    if (udp.unsent) udp.unsent.push(query);
    else transmit(udp, query);
  };

  /**
   * Writes the query's datagram on its (connected) socket. A send error is the socket's, as c-ares
   * took it: on a connected socket it is mostly an ICMP error of an earlier datagram to the same
   * server (which the next send reports once, whichever query it carries).
   */
  const transmit = (udp: UdpSocket, query: Query) => {
    try {
      udp.socket.send(query.packet, (error) => {
        if (error) dropSocket(udp, codeOf(error));
      });
    } catch (error) {
      dropSocket(udp, codeOf(error));
    }
  };

  /** This try brought no usable answer: the next try, or the end with `code` after the last. */
  const failTry = (query: Query, code: string) => {
    failures[serverOf(query).index]++;
    clearTimeout(query.timer);
    query.timer = undefined;
    closeTcp(query);
    query.try++;
    if (query.try >= maxTries) complete(query, { addresses: [], code });
    else send(query);
  };

  const fromServer = (from: dgram.RemoteInfo, server: DnsServerAddress) =>
    from.port === server.port &&
    (from.address === server.source || (server.family === 6 && canonicalIPv6(from.address) === server.source));

  const onMessage = (udp: UdpSocket, message: Buffer, from: dgram.RemoteInfo) => {
    const isResponse = message.length >= 12 && (message[2] & 0x80) !== 0;
    const query = isResponse ? udp.pending.get(message.readUInt16BE(0)) : undefined;
    if (!query || !fromServer(from, serverOf(query))) {
      ignoredReplies++;
      return;
    }
    // A truncated reply is asked again over TCP however little of it can be read: some servers
    // leave out the question, others cut the datagram in the middle of a record. The TCP answer
    // comes from the server itself, so nothing in this one has to be trusted.
    const truncated = (message[2] & 0x02) !== 0;
    let reply: DnsReply;
    try {
      reply = decodeReply(message);
    } catch {
      return truncated ? retryOverTcp(query) : failTry(query, 'EBADRESP');
    }
    if (truncated && (reply.questions ?? []).length === 0) return retryOverTcp(query);
    if (!answersQuestion(reply, query)) {
      ignoredReplies++;
      return;
    }
    onReply(query, reply, false);
  };

  const onReply = (query: Query, reply: DnsReply, overTcp: boolean) => {
    if (reply.flag_tc && !overTcp) return retryOverTcp(query);
    const rcode = rcodeOf(reply);
    if (rcode in RETRIED_RCODES) return failTry(query, RETRIED_RCODES[rcode]);
    if (rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN) failures[serverOf(query).index] = 0;
    if (rcode === RCODE.NOERROR) {
      const chain = chainOf(reply, query);
      const addresses = addressesIn(reply, query, chain);
      if (addresses.length > 0) return complete(query, { addresses, code: null });
      // Only a chain of aliases: the server did not look the target up (it does not recurse).
      if (chain.length > 1) return complete(query, { addresses: [], code: 'ECNAME', cname: chain[chain.length - 1] });
      return complete(query, { addresses: [], code: 'ENODATA' });
    }
    if (rcode === RCODE.NXDOMAIN) return complete(query, { addresses: [], code: 'ENOTFOUND' });
    if (rcode === RCODE.FORMERR) return complete(query, { addresses: [], code: 'EFORMERR' });
    failTry(query, 'EBADRESP');
  };

  /**
   * A truncated UDP reply: the same try again over TCP to the same server (RFC 7766), for the whole
   * answer rather than the part that fitted. Its own per-try time-out.
   */
  const retryOverTcp = (query: Query) => {
    const server = serverOf(query);
    detach(query);
    const connection = net.connect({ host: server.host, port: server.port, noDelay: true });
    query.tcp = connection;
    tcpOpen++;
    startTimer(query);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.packet.length);
    connection.write(Buffer.concat([length, query.packet]));
    let received: Buffer = Buffer.alloc(0);
    connection.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (query.tcp !== connection || received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      let reply: DnsReply;
      try {
        reply = decodeReply(received.subarray(2, 2 + received.readUInt16BE(0)));
      } catch {
        return failTry(query, 'EBADRESP');
      }
      if (reply.id !== query.id || !reply.flag_qr || !answersQuestion(reply, query)) return failTry(query, 'EBADRESP');
      onReply(query, reply, true);
    });
    connection.on('error', (error) => {
      if (query.tcp === connection) failTry(query, codeOf(error));
    });
    connection.on('close', () => {
      if (query.tcp === connection) failTry(query, 'EBADRESP');
    });
  };

  /** One question, without following a CNAME-only answer. */
  const askOnce = (name: string, type: QueryType, onAnswer: (answer: FamilyAnswer) => void): (() => void) => {
    const query: Query = {
      name,
      type,
      order: orderOfServers(),
      packet: encodeQuestion(name, type),
      id: 0,
      socket: undefined,
      tcp: undefined,
      try: 0,
      timer: undefined,
      done: false,
      onAnswer,
    };
    send(query);
    return () => {
      if (!query.done) release(query);
    };
  };

  return {
    /**
     * A CNAME-only answer is followed: the chain's last name is asked in turn (as a stub resolver
     * does with a server that does not recurse), at most `MAX_CNAME_FOLLOWS` times and never to a
     * name already asked; past that the answer is `ECNAME`, a refusal, never NXDOMAIN.
     */
    ask(name, type, onAnswer) {
      // The names asked so far: made only once an answer is a CNAME to follow (rare).
      let asked: Set<string> | undefined;
      let cancel = askOnce(name, type, function follow(answer: FamilyAnswer) {
        const next = answer.cname;
        if (next === undefined) return onAnswer(answer);
        asked ??= new Set([name]);
        if (asked.size > MAX_CNAME_FOLLOWS || asked.has(next)) return onAnswer({ addresses: [], code: 'ECNAME' });
        asked.add(next);
        cancel = askOnce(next, type, follow);
      });
      return () => cancel();
    },
    stats() {
      let pending = tcpOpen;
      for (const udp of open) pending += udp.pending.size;
      return { pending, ignoredReplies, sockets: open.size };
    },
  };
}
