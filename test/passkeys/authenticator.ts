// A software authenticator for the HTTP tests: an ES256 key pair made with node:crypto, and the
// WebAuthn answers a browser would post for it (attestation "none"), built here byte by byte:
// clientDataJSON, authenticator data, the CBOR attestation object and the signature. What the
// browser would take from the page (the challenge, the origin) the test sets, so it can lie.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

/** The few CBOR items WebAuthn's attestation object needs: unsigned and negative integers, byte and text strings, maps. */
type Cbor = number | Uint8Array | string | Map<number | string, Cbor> | Record<string, never>;

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 256) return Buffer.from([(major << 5) | 24, length]);
  const out = Buffer.alloc(3);
  out[0] = (major << 5) | 25;
  out.writeUInt16BE(length, 1);
  return out;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

export interface AnswerOptions {
  origin?: string;
  rpId?: string;
  /** The challenge to sign; default: the one in the options. */
  challenge?: string;
  userVerified?: boolean;
  /** The user handle to answer with (base64url); null: none. Default: the one registered. */
  userHandle?: string | null;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(32);
  readonly id = b64url(this.credentialId);
  private readonly privateKey: KeyObject;
  private readonly cosePublicKey: Buffer;
  /** The signature counter the next answer carries (then one more). */
  counter = 1;
  /** The user handle the site gave at registration, which a discoverable passkey answers with. */
  userHandle: string | undefined;

  constructor(
    readonly origin = 'http://localhost:3000',
    readonly rpId = 'localhost',
  ) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.cosePublicKey = cbor(
      new Map<number, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  private authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  /** The answer to registration options (attestation "none"), as the page posts it. */
  register(options: { challenge: string; user?: { id: string } }, answer: AnswerOptions = {}): string {
    this.userHandle = options.user?.id;
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, this.credentialId, this.cosePublicKey]);
    const flags = FLAG_UP | FLAG_AT | (answer.userVerified === false ? 0 : FLAG_UV);
    const authData = this.authData(answer.rpId ?? this.rpId, flags, 0, attested);
    const clientDataJSON = this.clientData(
      'webauthn.create',
      answer.challenge ?? options.challenge,
      answer.origin ?? this.origin,
    );
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(
          cbor(
            new Map<string, Cbor>([
              ['fmt', 'none'],
              ['attStmt', {}],
              ['authData', authData],
            ]),
          ),
        ),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    });
  }

  /** The answer to authentication options, signed, carrying the counter (which then grows). */
  authenticate(options: { challenge: string }, answer: AnswerOptions & { counter?: number } = {}): string {
    const counter = answer.counter ?? this.counter++;
    const flags = FLAG_UP | (answer.userVerified === false ? 0 : FLAG_UV);
    const authData = this.authData(answer.rpId ?? this.rpId, flags, counter);
    const clientDataJSON = this.clientData(
      'webauthn.get',
      answer.challenge ?? options.challenge,
      answer.origin ?? this.origin,
    );
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
    const userHandle = answer.userHandle === undefined ? this.userHandle : answer.userHandle;
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle ? { userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    });
  }
}

/** The WebAuthn options a passkey page hands the browser (its data-passkey-options). */
export function optionsIn(html: string): {
  challenge: string;
  allowCredentials?: Array<{ id: string }>;
  user?: { id: string };
} {
  const match = /data-passkey-options="([^"]*)"/.exec(html);
  if (!match?.[1]) throw new Error('no passkey options on the page');
  const json = match[1]
    .replace(/&#34;/g, '"')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  return JSON.parse(json) as { challenge: string };
}
