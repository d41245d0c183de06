/**
 * Opening a TLS connection to the Proxmox API that is verified before any byte of a request is
 * sent. Three ways to trust the server, never none:
 * - a pinned SHA-256 fingerprint of the leaf certificate (as PVE's own API client does: the chain
 *   and hostname are not checked, the leaf must match);
 * - a CA file: normal chain verification against that CA plus hostname verification;
 * - both: both checks, the chain against the CA file and the leaf against the pin (a CA file is
 *   never silently ignored because a fingerprint is set);
 * - neither: normal verification against the system CAs plus hostname verification.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export interface TlsTrust {
  /** `AB:CD:…` (32 pairs); compared case-insensitively. */
  fingerprint?: string;
  caFile?: string;
}

const FINGERPRINT_PATTERN = /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

/** Checks the settings once, so a bad fingerprint or unreadable CA file fails before any request. */
export function checkTlsTrust(trust: TlsTrust): { fingerprint?: string; ca?: Buffer } {
  const out: { fingerprint?: string; ca?: Buffer } = {};
  if (trust.fingerprint !== undefined) {
    if (!FINGERPRINT_PATTERN.test(trust.fingerprint)) {
      throw new Error('proxrun config: proxmox.fingerprint must be the SHA-256 fingerprint as 32 colon-separated hex pairs (AB:CD:…)');
    }
    out.fingerprint = trust.fingerprint.toUpperCase();
  }
  if (trust.caFile !== undefined) {
    try {
      out.ca = fs.readFileSync(trust.caFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(`proxrun config: proxmox.caFile ${trust.caFile} cannot be read (${code})`);
    }
  }
  return out;
}

/**
 * Connects and completes the handshake; resolves with a socket whose peer has been verified, or
 * rejects with a one-line reason. The caller owns timeouts (destroying the returned promise's
 * socket through `onSocket`).
 */
export function connectVerified(
  url: URL,
  trust: { fingerprint?: string; ca?: Buffer },
  onSocket: (socket: tls.TLSSocket) => void,
): Promise<tls.TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 443 : Number(url.port);
  const options: tls.ConnectionOptions = { host, port, ALPNProtocols: ['http/1.1'] };
  if (net.isIP(host) === 0) options.servername = host;
  // With a pin alone the chain of a Proxmox node's self-signed certificate cannot be verified; the
  // pin replaces that check and is applied below, before the socket is handed out. A CA file, with
  // or without a pin, is always checked.
  const verifyChain = trust.fingerprint === undefined || trust.ca !== undefined;
  options.rejectUnauthorized = verifyChain;
  if (trust.ca !== undefined) options.ca = trust.ca;
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options);
    onSocket(socket);
    socket.once('error', (err) => reject(new Error(`cannot connect to ${url.host}: ${err.message}`)));
    socket.once('secureConnect', () => {
      if (verifyChain && !socket.authorized) {
        socket.destroy();
        reject(new Error(`the certificate of ${url.host} is not trusted: ${String(socket.authorizationError)}`));
        return;
      }
      if (trust.fingerprint !== undefined) {
        const got = socket.getPeerX509Certificate()?.fingerprint256.toUpperCase();
        if (got !== trust.fingerprint) {
          socket.destroy();
          reject(new Error(`the certificate of ${url.host} has fingerprint ${got ?? '(none)'}, not the configured proxmox.fingerprint`));
          return;
        }
      }
      resolve(socket);
    });
  });
}
