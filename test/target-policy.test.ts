import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTargetPolicy, parseCidrList } from '../src/probes/index.js';

const allowed = (policy: ReturnType<typeof createTargetPolicy>, address: string) => policy.check(address).allowed;

describe('target policy defaults', () => {
  const policy = createTargetPolicy();

  it.each([
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fd00:ec2::254', 'metadata'],
    ['100.100.100.200', 'Alibaba'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
  ])('denies %s (%s)', (address, word) => {
    const decision = policy.check(address);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) expect(decision.reason).toContain(word);
  });

  it.each(['10.0.0.5', '192.168.1.1', '172.16.0.1', '127.0.0.1', '::1', 'fd00::5', '8.8.8.8', '2001:db8::1', '100.100.100.201', '::ffff:10.0.0.5'])(
    'allows %s',
    (address) => {
      expect(policy.check(address)).toEqual({ allowed: true });
    },
  );

  it('refuses what is not an IP address', () => {
    expect(policy.check('example.com')).toMatchObject({ allowed: false, reason: expect.stringContaining('not an IP') });
  });

  it('treats an IPv4-mapped IPv6 address like the IPv4 address (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        expect(allowed(policy, `::ffff:${v4}`)).toBe(allowed(policy, v4));
      }),
    );
  });

  it('denies every address of 169.254.0.0/16 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (a, b) => {
        expect(allowed(policy, `169.254.${a}.${b}`)).toBe(false);
      }),
    );
  });
});

describe('target policy allow and deny', () => {
  it('allow lifts a default denial', () => {
    const policy = createTargetPolicy({ allow: ['169.254.169.254/32'] });
    expect(allowed(policy, '169.254.169.254')).toBe(true);
    expect(allowed(policy, '::ffff:169.254.169.254')).toBe(true);
    expect(allowed(policy, '169.254.1.1')).toBe(false);
  });

  it('deny adds ranges, IPv4 and IPv6, also in mapped form', () => {
    const policy = createTargetPolicy({ deny: ['10.0.0.0/8', 'fd00::/8'] });
    expect(policy.check('10.1.2.3')).toMatchObject({ allowed: false, reason: expect.stringContaining('10.0.0.0/8') });
    expect(allowed(policy, '::ffff:10.1.2.3')).toBe(false);
    expect(allowed(policy, 'fd12::1')).toBe(false);
    expect(allowed(policy, '192.168.0.1')).toBe(true);
  });

  it('an explicit deny wins over allow', () => {
    const policy = createTargetPolicy({ allow: ['169.254.0.0/16'], deny: ['169.254.169.254'] });
    expect(allowed(policy, '169.254.10.10')).toBe(true);
    expect(allowed(policy, '169.254.169.254')).toBe(false);
  });

  it('throws on a bad CIDR, naming it', () => {
    expect(() => createTargetPolicy({ deny: ['10.0.0.0/33'] })).toThrow(/10\.0\.0\.0\/33/);
  });
});

describe('parseCidrList', () => {
  it('parses and normalises a comma-separated list', () => {
    expect(parseCidrList(' 10.0.0.0/8, fd00::/8 ,192.168.1.7,, ::1 ')).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7/32', '::1/128']);
    expect(parseCidrList('')).toEqual([]);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0/8', '10.0.0.0/x', '10.0.0.0/8/8', '0x7f.0.0.1', '300.1.1.1'])(
    'rejects %s, naming it',
    (bad) => {
      expect(() => parseCidrList(`10.0.0.0/8,${bad}`)).toThrow(bad);
    },
  );
});
