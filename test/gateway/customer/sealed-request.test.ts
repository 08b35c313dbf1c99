/**
 * Households' requests sealed to the gateway's request key, as the tool makes them: the gateway opens them to
 * the very request; one sealed for another gateway, tampered with, or sealed to another key does not open
 * (SEAL_INVALID); a plain request passes through; the announcement is checked against a pinned key; a sealed
 * reply opens only with the household's key and must match its envelope.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { openRequest, parseRequest } from '../../../gateway/customer/enrolment.ts';
import { rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { requestKey } from '../../../gateway/customer/request-key.ts';
import { seal } from '../../../gateway/customer/seal.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { replyAad } from '../../../gateway/protocol/customer-messages.ts';
import {
  meterRequest,
  openAnnouncement,
  openReply,
  sealRequest,
} from '../../../scripts/lib/customer/client.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const GW = 'gw-1';
const identity = generateKeyPairSync('ed25519');
const key = requestKey(identity.privateKey);
const household = generateCustomerKeys();

describe('sealed household requests', () => {
  it('the request key is derived from the identity: the same every time, another for another identity', () => {
    expect(rawPublicKey(requestKey(identity.privateKey).publicKey)).toBe(rawPublicKey(key.publicKey));
    const other = requestKey(generateKeyPairSync('ed25519').privateKey);
    expect(rawPublicKey(other.publicKey)).not.toBe(rawPublicKey(key.publicKey));
  });

  it('opens to the very request; refuses another gateway, tampering and another key; passes plain ones', () => {
    const { message } = meterRequest('info', {
      gatewayId: GW,
      meterId: 'm1',
      keys: household,
      now: Date.now(),
    });
    const sealed = sealRequest(message, rawPublicKey(key.publicKey), GW);
    expect(sealed).not.toContain('meter-0042');
    expect(sealed).not.toContain('meterId');
    const opened = openRequest(Buffer.from(sealed), key.privateKey, GW);
    expect(opened.sealed).toBe(true);
    expect(parseRequest(opened.message).request).toMatchObject({
      type: 'info',
      meterId: 'm1',
      gatewayId: GW,
    });

    expectCode('SEAL_INVALID', () => openRequest(Buffer.from(sealed), key.privateKey, 'gw-2'));
    const other = requestKey(generateKeyPairSync('ed25519').privateKey);
    expectCode('SEAL_INVALID', () => openRequest(Buffer.from(sealed), other.privateKey, GW));
    const { sealed: text } = JSON.parse(sealed) as { sealed: string };
    const flipped = `${text.slice(0, 60)}${text[60] === 'A' ? 'B' : 'A'}${text.slice(61)}`;
    expectCode('SEAL_INVALID', () =>
      openRequest(Buffer.from(JSON.stringify({ v: 1, sealed: flipped })), key.privateKey, GW),
    );
    expect(openRequest(Buffer.from(message), key.privateKey, GW)).toEqual({
      message: Buffer.from(message),
      sealed: false,
    });
  });

  it('checks the announcement against a pinned gateway key', () => {
    const body = {
      v: 1,
      type: 'request-key',
      gatewayId: GW,
      sealing: rawPublicKey(key.publicKey),
      gatewayKey: rawPublicKey(identity.publicKey),
    };
    const { message } = signEnvelope(body, identity.privateKey, identity.publicKey);
    const pinned = rawPublicKey(identity.publicKey);
    expect(openAnnouncement(Buffer.from(message), pinned, GW).sealing).toBe(body.sealing);
    const impostor = generateKeyPairSync('ed25519');
    const forged = signEnvelope(
      { ...body, gatewayKey: rawPublicKey(impostor.publicKey) },
      impostor.privateKey,
      impostor.publicKey,
    );
    expectCode('SIGNATURE_INVALID', () => openAnnouncement(Buffer.from(forged.message), pinned, GW));
    expectCode('MESSAGE_MALFORMED', () => openAnnouncement(Buffer.from(message), undefined, 'gw-2'));
  });

  it("a sealed reply opens only with the household's key and must match its envelope", () => {
    const gatewayKey = rawPublicKey(identity.publicKey);
    const to = createPublicKey(household.sealingPrivate);
    const sealedReply = (id: string, content: object) =>
      Buffer.from(
        signEnvelope(
          {
            v: 1,
            type: 'sealed-reply',
            id,
            gatewayKey,
            sealed: seal(to, Buffer.from(JSON.stringify(content)), replyAad(GW, id)),
          },
          identity.privateKey,
          identity.publicKey,
        ).message,
      );
    const inner = { v: 1, type: 'reply', id: 'r1', ok: true, gatewayKey, erased: 3 };
    const opener = { sealingPrivate: household.sealingPrivate, gatewayId: GW };
    expect(openReply(sealedReply('r1', inner), gatewayKey, opener)).toEqual(inner);
    const stranger = { sealingPrivate: generateCustomerKeys().sealingPrivate, gatewayId: GW };
    expectCode('SEAL_INVALID', () => openReply(sealedReply('r1', inner), gatewayKey, stranger));
    // Sealed for request r1, presented as the reply to r2: refused.
    expectCode('MESSAGE_MALFORMED', () => openReply(sealedReply('r2', inner), gatewayKey, opener));
  });
});
