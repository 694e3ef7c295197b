import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeReply, encodeQuestion, type DnsReply } from '../src/probes/dns.wire.js';

const legacyQuestion = (name: string, type: 'A' | 'AAAA') =>
  dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

/** What the client reads of a decoded message, AAAA data in canonical form (as the client writes it). */
function readable(reply: DnsReply) {
  const v6 = (text: string) => {
    const words = Buffer.alloc(16);
    const [head, tail = ''] = text.split('::');
    const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
    const left = parse(head);
    const right = text.includes('::') ? parse(tail) : [];
    [...left, ...new Array(8 - left.length - right.length).fill(0), ...right].forEach((w, i) => words.writeUInt16BE(w, i * 2));
    return words.toString('hex');
  };
  return {
    id: reply.id,
    flags: reply.flags,
    qr: reply.flag_qr,
    tc: reply.flag_tc,
    questions: (reply.questions ?? []).map((q) => ({ name: q.name, type: q.type, class: q.class })),
    answers: (reply.answers ?? []).map((a) => ({
      name: a.name,
      type: a.type,
      class: a.class,
      data: a.type === 'AAAA' && !String(a.data).includes('.') ? v6(String(a.data)) : a.data,
    })),
  };
}

const outcomeOf = (decode: (b: Buffer) => DnsReply, message: Buffer) => {
  try {
    return { reply: readable(decode(message)) };
  } catch {
    return { threw: true };
  }
};

const reply = (answers: dnsPacket.Answer[], extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({
    type: 'response',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ type: 'A', name: 'www.shop.test', class: 'IN' }],
    answers,
    ...extra,
  });

describe('DNS questions', () => {
  it.each([
    'shop.test',
    'WWW.Shop.Test',
    'a.b.c.d.e.f',
    `${'a'.repeat(63)}.test`,
    'x',
    'under_score.test',
    'café.test',
    `${'a'.repeat(64)}.test`,
    'a..test',
  ])('%s: the bytes dns-packet writes', (name) => {
    for (const type of ['A', 'AAAA'] as const) expect(encodeQuestion(name, type)).toEqual(legacyQuestion(name, type));
  });

  it('any name of plain labels: the bytes dns-packet writes', () => {
    const label = fc.stringMatching(/^[a-z0-9_-]{1,63}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), fc.constantFrom('A' as const, 'AAAA' as const), (labels, type) => {
        const name = labels.join('.');
        expect(encodeQuestion(name, type)).toEqual(legacyQuestion(name, type));
      }),
    );
  });
});

describe('DNS replies read as dns-packet reads them', () => {
  const cases: [string, Buffer][] = [
    ['one A', reply([{ type: 'A', name: 'www.shop.test', data: '10.0.0.3' }])],
    [
      'A and a CNAME chain',
      reply([
        { type: 'CNAME', name: 'www.shop.test', data: 'shop.cdn.test' },
        { type: 'CNAME', name: 'shop.cdn.test', data: 'edge.cdn.test' },
        { type: 'A', name: 'edge.cdn.test', data: '10.0.3.1' },
        { type: 'A', name: 'edge.cdn.test', data: '10.0.3.2' },
      ]),
    ],
    [
      'AAAA, mapped and compressed',
      dnsPacket.encode({
        type: 'response',
        id: 7,
        flags: 0,
        questions: [{ type: 'AAAA', name: 'v6.test', class: 'IN' }],
        answers: [
          { type: 'AAAA', name: 'v6.test', data: '2001:db8::20' },
          { type: 'AAAA', name: 'v6.test', data: '::ffff:10.0.0.1' },
          { type: 'AAAA', name: 'v6.test', data: '::' },
        ],
      }),
    ],
    ['no data', reply([])],
    ['NXDOMAIN with an SOA', reply([], { flags: 3, authorities: [{ type: 'SOA', name: 'test', data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } }] })],
    ['a TXT answer', reply([{ type: 'TXT', name: 'www.shop.test', data: 'hello' }])],
    ['truncated flag', reply([], { flags: dnsPacket.TRUNCATED_RESPONSE })],
    ['no question (an error reply)', dnsPacket.encode({ type: 'response', id: 9, flags: 2, questions: [], answers: [] })],
    ['a query, not a response', legacyQuestion('shop.test', 'A')],
    ['an answer of class CH', reply([{ type: 'A', name: 'www.shop.test', class: 'CH', data: '10.0.0.3' }])],
  ];

  it.each(cases)('%s', (_name, message) => {
    expect(outcomeOf(decodeReply, message)).toEqual(outcomeOf((m) => dnsPacket.decode(m) as DnsReply, message));
  });

  it('every cut and every flipped byte of those messages', () => {
    for (const [, message] of cases) {
      for (let cut = 0; cut < message.length; cut++) {
        const part = message.subarray(0, cut);
        expect(outcomeOf(decodeReply, part)).toEqual(outcomeOf((m) => dnsPacket.decode(m) as DnsReply, part));
      }
      fc.assert(
        fc.property(fc.nat(message.length - 1), fc.nat(255), (at, value) => {
          const changed = Buffer.from(message);
          changed[at] = value;
          expect(outcomeOf(decodeReply, changed)).toEqual(outcomeOf((m) => dnsPacket.decode(m) as DnsReply, changed));
        }),
        { numRuns: 300 },
      );
    }
  });
});
