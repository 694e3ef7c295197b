/**
 * The DNS messages of dns.client.ts: its questions (A or AAAA of a name) and the replies to them.
 * dns-packet reads every message the way the client needs, but builds a general object for each
 * (a header of 15 fields, arrays for four sections, a record object per answer, string names of
 * types and classes): a few µs and a few hundred bytes per query, two queries per probe. The
 * common messages are read and written here directly; anything else (another record type, an
 * authority or additional section, a name that is not plain ASCII labels, anything malformed)
 * goes to dns-packet as before, so that every message reads exactly as dns-packet reads it.
 */
import dnsPacket from 'dns-packet';

export type QueryType = 'A' | 'AAAA';

/** The parts of a decoded message the client reads; a `dnsPacket.DecodedPacket` has them too. */
export interface DnsReply {
  id?: number;
  /** The header's flags without the QR bit (dns-packet's `flags`); the rcode is `flags & 0xf`. */
  flags?: number;
  flag_qr?: boolean;
  flag_tc?: boolean;
  questions?: { name: string; type: string; class?: string }[];
  /** `data`: the address (A, AAAA) or the alias' target (CNAME), as text; other types' data is dns-packet's. */
  answers?: { name: string; type: string; class?: string; data?: unknown }[];
}

const TYPE_CODES: Record<QueryType, number> = { A: 1, AAAA: 28 };
const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RECURSION_DESIRED = 0x0100;

/** Names the fast path writes: ASCII labels of 1-63 characters, 253 in all, no dot at either end. */
const PLAIN_NAME = /^(?=.{1,253}$)[\x21-\x2d\x2f-\x7e]{1,63}(?:\.[\x21-\x2d\x2f-\x7e]{1,63})*$/;

/**
 * A recursive query for `type` of `name`, id 0 (the client writes the id into the first two
 * bytes): the bytes `dnsPacket.encode` makes for the same question.
 */
export function encodeQuestion(name: string, type: QueryType): Buffer {
  if (!PLAIN_NAME.test(name)) {
    return dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
  }
  const packet = Buffer.allocUnsafe(12 + name.length + 2 + 4);
  packet.writeUInt32BE(RECURSION_DESIRED, 0); // id 0, flags
  packet.writeUInt32BE(0x0001_0000, 4); // one question, no answer
  packet.writeUInt32BE(0, 8); // no authority, no additional
  // The name's text after a length byte, then each dot and the end become the next label's length.
  packet.write(name, 13, 'latin1');
  let lengthAt = 12;
  for (let i = 13; i <= 13 + name.length; i++) {
    if (i < 13 + name.length && packet[i] !== 0x2e) continue;
    packet[lengthAt] = i - lengthAt - 1;
    lengthAt = i;
  }
  let offset = 13 + name.length;
  packet[offset++] = 0;
  packet.writeUInt16BE(TYPE_CODES[type], offset);
  packet.writeUInt16BE(CLASS_IN, offset + 2);
  return packet;
}

/** Thrown inside the fast path: the message is left to dns-packet. */
const NOT_PLAIN = new Error('not a plain reply');

/** A name read at `at` of a message. */
interface ReadName {
  at: number;
  name: string;
  end: number;
}

/**
 * A name at `offset` as dns-packet's `name.decode` reads it (labels as UTF-8, compression
 * pointers only backwards, 254 bytes at most); `end` is where the name's own bytes end. A name
 * that is only a pointer to `known` (an answer's owner pointing at the question: the usual reply)
 * is that name, without reading its labels again.
 */
function readName(buf: Buffer, offset: number, known?: ReadName): ReadName {
  const at = offset;
  let name = '';
  let total = 0;
  let start = offset;
  let end = -1;
  for (;;) {
    if (offset >= buf.length) throw NOT_PLAIN;
    const len = buf[offset++];
    if (len === 0) break;
    if ((len & 0xc0) === 0) {
      if (offset + len > buf.length) throw NOT_PLAIN;
      total += len + 1;
      if (total > 254) throw NOT_PLAIN;
      const label = buf.toString('utf-8', offset, offset + len);
      name = total === len + 1 ? label : `${name}.${label}`;
      offset += len;
    } else if ((len & 0xc0) === 0xc0) {
      if (offset + 1 > buf.length) throw NOT_PLAIN;
      const jump = ((len & 0x3f) << 8) | buf[offset];
      if (jump >= start) throw NOT_PLAIN;
      if (total === 0 && known?.at === jump) return { at, name: known.name, end: offset + 1 };
      if (end === -1) end = offset + 1;
      offset = jump;
      start = jump;
    } else throw NOT_PLAIN;
  }
  if (end === -1) end = offset;
  return { at, name: total === 0 ? '.' : name, end };
}

const hex = (buf: Buffer, at: number) => ((buf[at] << 8) | buf[at + 1]).toString(16);

/** The reply of a plain message (questions and A, AAAA or CNAME answers of class IN only), else throws `NOT_PLAIN`. */
function decodePlain(buf: Buffer): DnsReply {
  if (buf.length < 12) throw NOT_PLAIN;
  const flags = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  if (buf.readUInt32BE(8) !== 0) throw NOT_PLAIN; // an authority or additional section
  let offset = 12;
  const questions: NonNullable<DnsReply['questions']> = [];
  let first: ReadName | undefined;
  for (let i = 0; i < qdcount; i++) {
    const read = readName(buf, offset);
    first ??= read;
    const { name, end } = read;
    if (end + 4 > buf.length) throw NOT_PLAIN;
    const type = buf.readUInt16BE(end);
    if ((type !== TYPE_A && type !== TYPE_AAAA) || buf.readUInt16BE(end + 2) !== CLASS_IN) throw NOT_PLAIN;
    questions.push({ name, type: type === TYPE_A ? 'A' : 'AAAA', class: 'IN' });
    offset = end + 4;
  }
  const answers: NonNullable<DnsReply['answers']> = [];
  for (let i = 0; i < ancount; i++) {
    const { name, end } = readName(buf, offset, first);
    if (end + 10 > buf.length) throw NOT_PLAIN;
    const type = buf.readUInt16BE(end);
    if (buf.readUInt16BE(end + 2) !== CLASS_IN) throw NOT_PLAIN;
    const length = buf.readUInt16BE(end + 8);
    const rdata = end + 10;
    if (type === TYPE_A) {
      if (length !== 4 || rdata + 4 > buf.length) throw NOT_PLAIN;
      answers.push({ name, type: 'A', class: 'IN', data: `${buf[rdata]}.${buf[rdata + 1]}.${buf[rdata + 2]}.${buf[rdata + 3]}` });
    } else if (type === TYPE_AAAA) {
      if (length !== 16 || rdata + 16 > buf.length) throw NOT_PLAIN;
      let text = hex(buf, rdata);
      for (let at = rdata + 2; at < rdata + 16; at += 2) text += `:${hex(buf, at)}`;
      answers.push({ name, type: 'AAAA', class: 'IN', data: text });
    } else if (type === TYPE_CNAME) {
      const target = readName(buf, rdata);
      if (target.end - rdata !== length) throw NOT_PLAIN;
      answers.push({ name, type: 'CNAME', class: 'IN', data: target.name });
    } else throw NOT_PLAIN;
    offset = rdata + length;
  }
  return { id: buf.readUInt16BE(0), flags: flags & 0x7fff, flag_qr: (flags & 0x8000) !== 0, flag_tc: (flags & 0x0200) !== 0, questions, answers };
}

/**
 * The message as dns-packet decodes it (the fields of `DnsReply`); throws where dns-packet throws.
 * AAAA addresses come in their full form (`2001:db8:0:0:0:0:0:1`): the client writes them
 * canonically, whichever form they come in.
 */
export function decodeReply(buf: Buffer): DnsReply {
  try {
    return decodePlain(buf);
  } catch (error) {
    if (error !== NOT_PLAIN) throw error;
    return dnsPacket.decode(buf) as DnsReply;
  }
}
