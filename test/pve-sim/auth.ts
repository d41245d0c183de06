/**
 * Authentication as pve-manager does it: API tokens in the Authorization header, tickets from
 * `/access/ticket` in the PVEAuthCookie cookie (or header) with a CSRFPreventionToken on writes.
 * The simulator knows one user (root@pam) and one token (root@pam!sim).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

export interface Secrets {
  password: string;
  tokenId: string;
  tokenSecret: string;
  /** Key that signs tickets and CSRF tokens. */
  ticketKey: string;
}

export interface Identity {
  /** `root@pam`, or `root@pam!sim` for the token. */
  user: string;
  /** The user part without the token (`root@pam`). */
  owner: string;
  isToken: boolean;
  viaTicket: boolean;
  /** Exactly root@pam (a token never is). */
  isRootPam: boolean;
}

export type AuthResult = { ok: true; identity: Identity } | { ok: false; reason: string };

export const ROOT_PAM = 'root@pam';
const TICKET_LIFETIME_S = 2 * 3600;

export function newSecrets(): Secrets {
  return {
    password: randomBytes(18).toString('base64url'),
    tokenId: `${ROOT_PAM}!sim`,
    tokenSecret: randomUUID(),
    ticketKey: randomBytes(32).toString('hex'),
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function sign(key: string, data: string): string {
  return createHmac('sha256', key).update(data).digest('base64url');
}

const hexTime = (): string => Math.floor(Date.now() / 1000).toString(16).toUpperCase().padStart(8, '0');

export function issueTicket(secrets: Secrets, user: string): { ticket: string; csrf: string } {
  const t = hexTime();
  const plain = `PVE:${user}:${t}`;
  return { ticket: `${plain}::${sign(secrets.ticketKey, plain)}`, csrf: `${t}:${sign(secrets.ticketKey, `csrf:${t}:${user}`)}` };
}

function verifyTicket(secrets: Secrets, ticket: string): string | undefined {
  const m = /^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
  if (!m) return undefined;
  if (!sameText(sign(secrets.ticketKey, m[1] ?? ''), m[4] ?? '')) return undefined;
  const age = Date.now() / 1000 - parseInt(m[3] ?? '0', 16);
  if (age < -300 || age > TICKET_LIFETIME_S) return undefined;
  return m[2];
}

function verifyCsrf(secrets: Secrets, user: string, token: string | undefined): boolean {
  const m = /^([0-9A-F]{8}):(.+)$/.exec(token ?? '');
  if (!m) return false;
  return sameText(sign(secrets.ticketKey, `csrf:${m[1]}:${user}`), m[2] ?? '');
}

export function checkPassword(secrets: Secrets, username: string, password: string): boolean {
  return username === ROOT_PAM && sameText(password, secrets.password);
}

function cookieValue(cookie: string | undefined, name: string): string | undefined {
  for (const part of (cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** Authenticates an HTTPS request; `needsCsrf` for methods other than GET (upload excepted). */
export function authenticate(
  secrets: Secrets,
  headers: { authorization?: string; cookie?: string; csrf?: string },
  needsCsrf: boolean,
): AuthResult {
  const auth = headers.authorization ?? '';
  const token = /^PVEAPIToken=([^!]+)!([^=\s]+)[=:](\S+)$/.exec(auth);
  if (token) {
    const id = `${token[1]}!${token[2]}`;
    if (id === secrets.tokenId && sameText(token[3] ?? '', secrets.tokenSecret)) {
      return { ok: true, identity: { user: id, owner: token[1] ?? '', isToken: true, viaTicket: false, isRootPam: false } };
    }
    return { ok: false, reason: 'authentication failure' };
  }
  const ticket = /^PVEAuthCookie=(.+)$/.exec(auth)?.[1] ?? cookieValue(headers.cookie, 'PVEAuthCookie');
  if (ticket === undefined) return { ok: false, reason: 'No ticket' };
  const user = verifyTicket(secrets, ticket);
  if (!user) return { ok: false, reason: 'authentication failure' };
  if (needsCsrf && !verifyCsrf(secrets, user, headers.csrf)) return { ok: false, reason: 'Permission denied - invalid csrf token' };
  return { ok: true, identity: { user, owner: user, isToken: false, viaTicket: true, isRootPam: user === ROOT_PAM } };
}

/** The identity of the node tools: root@pam on the node itself. */
export const NODE_ROOT: Identity = { user: ROOT_PAM, owner: ROOT_PAM, isToken: false, viaTicket: false, isRootPam: true };
