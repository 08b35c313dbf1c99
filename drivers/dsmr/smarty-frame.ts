/**
 * Luxembourg "Smarty" meters wrap each DSMR telegram in a DLMS general-glo-ciphering frame, encrypted with
 * AES-128-GCM (Luxembourg Smarty P1 specification v1.1.3, §3.2.5 "P1 software – Channel security"):
 *
 *     DB 08 <system title, 8> 82 <length, 2 BE> 30 <frame counter, 4 BE> <ciphertext> <GCM tag, 12>
 *
 * `length` counts everything after it: the security control byte, the frame counter, the ciphertext and the tag.
 * The nonce is the system title followed by the frame counter; the additional authenticated data is the security
 * control byte (0x30) followed by the authentication key, which is the same for every meter
 * (00112233445566778899AABBCCDDEEFF); the 16-byte encryption key comes from the grid operator (Creos). The
 * plaintext is an ordinary DSMR 5 telegram.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { GatewayError } from '../../gateway/errors.ts';

export const SMARTY_TAG = 0xdb;
/** Bytes before the security control byte: tag, title length, title, long-form indicator, length. */
export const SMARTY_PREFIX = 13;
const SYSTEM_TITLE_LENGTH = 8;
const LONG_FORM = 0x82;
const SECURITY_CONTROL = 0x30;
const GCM_TAG_LENGTH = 12;
/** Security control byte and frame counter. */
const SC_FC = 5;
export const DEFAULT_AUTHENTICATION_KEY = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');

/** The whole frame's length from its first 13 bytes, or undefined when they are not a Smarty header. */
export function smartyFrameLength(head: Uint8Array): number | undefined {
  if (head.length < SMARTY_PREFIX) return undefined;
  if (head[0] !== SMARTY_TAG || head[1] !== SYSTEM_TITLE_LENGTH || head[10] !== LONG_FORM) return undefined;
  const length = (head[11]! << 8) | head[12]!;
  if (length < SC_FC + GCM_TAG_LENGTH + 1) return undefined;
  return SMARTY_PREFIX + length;
}

/** The telegram inside a Smarty frame; FRAME_MALFORMED for a bad envelope, FRAME_CHECKSUM when GCM rejects it. */
export function decryptSmartyFrame(
  frame: Buffer,
  key: Buffer,
  authenticationKey = DEFAULT_AUTHENTICATION_KEY,
): Buffer {
  const total = smartyFrameLength(frame);
  if (total === undefined || frame[SMARTY_PREFIX] !== SECURITY_CONTROL) {
    throw new GatewayError('FRAME_MALFORMED', 'not a Smarty (DLMS general-glo-ciphering) frame');
  }
  if (frame.length !== total) throw new GatewayError('FRAME_TRUNCATED', 'Smarty frame length does not match');
  const nonce = Buffer.concat([
    frame.subarray(2, 10),
    frame.subarray(SMARTY_PREFIX + 1, SMARTY_PREFIX + SC_FC),
  ]);
  const body = frame.subarray(SMARTY_PREFIX + SC_FC, total - GCM_TAG_LENGTH);
  const decipher = createDecipheriv('aes-128-gcm', key, nonce, { authTagLength: GCM_TAG_LENGTH });
  decipher.setAAD(Buffer.concat([Buffer.from([SECURITY_CONTROL]), authenticationKey]));
  decipher.setAuthTag(frame.subarray(total - GCM_TAG_LENGTH));
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new GatewayError(
      'FRAME_CHECKSUM',
      "Smarty frame fails its authentication tag: corrupted, or the decryption key is not this meter's",
    );
  }
}

export interface SmartySealOptions {
  key: Buffer;
  systemTitle: Buffer;
  frameCounter: number;
  authenticationKey?: Buffer;
}

/** Wraps a telegram as a Smarty meter does (for the emulator and tests). */
export function encryptSmartyFrame(telegram: Buffer, o: SmartySealOptions): Buffer {
  if (o.systemTitle.length !== SYSTEM_TITLE_LENGTH) throw new RangeError('system title must be 8 bytes');
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(o.frameCounter >>> 0);
  const cipher = createCipheriv('aes-128-gcm', o.key, Buffer.concat([o.systemTitle, counter]), {
    authTagLength: GCM_TAG_LENGTH,
  });
  cipher.setAAD(
    Buffer.concat([Buffer.from([SECURITY_CONTROL]), o.authenticationKey ?? DEFAULT_AUTHENTICATION_KEY]),
  );
  const body = Buffer.concat([cipher.update(telegram), cipher.final()]);
  const length = SC_FC + body.length + GCM_TAG_LENGTH;
  const head = Buffer.from([
    SMARTY_TAG,
    SYSTEM_TITLE_LENGTH,
    ...o.systemTitle,
    LONG_FORM,
    length >> 8,
    length & 0xff,
  ]);
  return Buffer.concat([head, Buffer.from([SECURITY_CONTROL]), counter, body, cipher.getAuthTag()]);
}
