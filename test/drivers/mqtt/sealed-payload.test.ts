/**
 * Sealed readings (meters that encrypt and sign their own readings): a payload signed by the configured meter key
 * with the gateway's layout is accepted and its ciphertext decrypts to what the meter packed; another key, another
 * layout, a malformed body or a non-envelope are refused with their codes.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { generateRandomKeysSync } from 'paillier-bigint';
import { describe, expect, it } from 'vitest';
import { parseSealedPayload } from '../../../drivers/mqtt/sealed-payload.ts';
import { NativeEngine } from '../../../gateway/encrypt/engine.ts';
import { packReading } from '../../../gateway/encrypt/packing.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { LAYOUT_40 } from '../../helpers/packing.ts';

const keys = generateRandomKeysSync(1024, true); // simple variant: g = n + 1
const supplier = { n: keys.publicKey.n, n2: keys.publicKey._n2, bits: 1024 };
const layout = LAYOUT_40;
const meter = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

function payload(edit: (b: Record<string, unknown>) => void = () => {}, signer = meter.privateKey): Buffer {
  const c = new NativeEngine(supplier).encrypt(packReading(layout, 1234n, 0));
  const body: Record<string, unknown> = {
    type: 'sealed-reading',
    v: 2,
    intervalStart: '2024-03-01T11:00:00Z',
    intervalMinutes: 15,
    slotBits: 40,
    slots: ['total', 'peak', 'offpeak'],
    releaseShift: layout.releaseShift,
    clipWh: layout.clipWh,
    ciphertext: c.toString(16),
  };
  edit(body);
  return Buffer.from(signEnvelope(body, signer, createPublicKey(signer)).message);
}

describe('sealed meter payloads', () => {
  it('accepts a reading signed by the meter in the gateway layout; the ciphertext opens to the packed slots', () => {
    const r = parseSealedPayload(payload(), meter.publicKey, layout);
    expect(r.start).toBe(Date.parse('2024-03-01T11:00:00Z'));
    expect(r.end - r.start).toBe(15 * 60_000);
    expect(keys.privateKey.decrypt(r.ciphertext)).toBe(packReading(layout, 1234n, 0));
  });

  it("refuses a version 1 body (no release field) and a release field other than the gateway's", () => {
    let caught: unknown;
    try {
      parseSealedPayload(
        payload((b) => (b.v = 1)),
        meter.publicKey,
        layout,
      );
    } catch (error) {
      caught = error;
    }
    expect((caught as { code?: string }).code).toBe('PAYLOAD_MALFORMED');
    expect(String(caught)).toContain('v1 has no release field');
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.releaseShift = 1)),
        meter.publicKey,
        layout,
      ),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.clipWh = 9999)),
        meter.publicKey,
        layout,
      ),
    );
  });

  it('refuses another signer, another layout and malformed bodies', () => {
    expectCode('SIGNATURE_INVALID', () =>
      parseSealedPayload(payload(undefined, other.privateKey), meter.publicKey, layout),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.slotBits = 41)),
        meter.publicKey,
        layout,
      ),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.slots = ['total', 'offpeak', 'peak'])),
        meter.publicKey,
        layout,
      ),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.ciphertext = 'XYZ')),
        meter.publicKey,
        layout,
      ),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(
        payload((b) => (b.wh = 1234)),
        meter.publicKey,
        layout,
      ),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(Buffer.from('{"ENERGY":{}}'), meter.publicKey, layout),
    );
    expectCode('PAYLOAD_MALFORMED', () =>
      parseSealedPayload(Buffer.from('not json'), meter.publicKey, layout),
    );
  });
});
