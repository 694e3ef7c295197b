import type { TLSSocket } from 'node:tls';

/** The leaf certificate a TLS target presented: when it expires and who issued it. */
export interface LeafCertificate {
  /** ms since epoch (the certificate's notAfter). */
  expiresAt: number;
  /** The issuer's common name, else its organisation, else the whole issuer name. */
  issuer: string;
}

/**
 * Reads the leaf certificate of an established TLS connection (call it on 'secureConnect').
 * Null when the peer presented none or its dates cannot be read; never throws, so a probe is
 * never failed by the bookkeeping of its certificate.
 */
export function leafCertificateOf(socket: TLSSocket): LeafCertificate | null {
  try {
    const cert = socket.getPeerX509Certificate();
    if (!cert) return null;
    const expiresAt = Date.parse(cert.validTo);
    if (!Number.isFinite(expiresAt)) return null;
    return { expiresAt, issuer: issuerName(cert.issuer) };
  } catch {
    return null;
  }
}

/** `C=US\nO=Let's Encrypt\nCN=R3` -> `R3 (Let's Encrypt)`; without a CN, the O; else the whole name on one line. */
function issuerName(issuer: string): string {
  const fields = new Map<string, string>();
  for (const line of issuer.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0 && !fields.has(line.slice(0, at))) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  const cn = fields.get('CN');
  const o = fields.get('O');
  const name = cn && o && o !== cn ? `${cn} (${o})` : (cn ?? o ?? issuer.replace(/\n/g, ', '));
  return name.slice(0, 200);
}
