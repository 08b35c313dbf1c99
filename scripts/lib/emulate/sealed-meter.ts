/**
 * An emulated meter that encrypts and signs its own readings (the MQTT "sealed" format, drivers/mqtt/
 * sealed-payload.ts): at each interval end it packs the interval's Wh as the gateway would (total slot and the
 * slot of the interval's tariff band), encrypts it under the supplier's Paillier key with a full-length
 * randomizer, and signs the body with its Ed25519 key. It needs the gateway's configuration to know the layout
 * and the tariff bands, as a real meter would be configured with them.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadConfigFile } from '../../../gateway/config/load.ts';
import { TariffBands } from '../../../gateway/acquire/tariff.ts';
import { NativeEngine } from '../../../gateway/encrypt/engine.ts';
import { packReading, type PackingLayout } from '../../../gateway/encrypt/packing.ts';
import { packingLayout } from '../../../gateway/gateway.ts';
import { loadPrivateKey } from '../../../gateway/keys/files.ts';
import { loadPaillierPublic } from '../../../gateway/keys/paillier-files.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';

export class SealedMeter {
  private readonly engine: NativeEngine;
  private readonly layout: PackingLayout;
  private readonly bands: TariffBands;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly intervalMs: number;

  constructor(gatewayConfigFile: string, meterKeyFile: string) {
    const config = loadConfigFile(gatewayConfigFile);
    const supplier = loadPaillierPublic(config.keys.supplierPublic);
    this.engine = new NativeEngine(supplier);
    this.layout = packingLayout(config, supplier.bits);
    this.bands = new TariffBands(config.billing.bands, config.gateway.timezone);
    this.intervalMs = config.intervals.minutes * 60_000;
    this.privateKey = loadPrivateKey(meterKeyFile, 'ed25519', 'meter private key');
    this.publicKey = createPublicKey(this.privateKey);
  }

  /** The signed payload for the interval [start, start + interval) with `wh` consumed. */
  payload(start: number, wh: number): string {
    // The meter clips for the release field itself, as the gateway does for the readings it encrypts.
    const packed = packReading(this.layout, BigInt(wh), this.bands.bandAt(start));
    const ciphertext = this.engine.encrypt(packed);
    const body = {
      type: 'sealed-reading',
      v: 2,
      intervalStart: new Date(start).toISOString().replace('.000Z', 'Z'),
      intervalMinutes: this.intervalMs / 60_000,
      slotBits: this.layout.slotBits,
      slots: this.layout.slots,
      releaseShift: this.layout.releaseShift,
      clipWh: this.layout.clipWh,
      ciphertext: ciphertext.toString(16),
    };
    return signEnvelope(body, this.privateKey, this.publicKey).message;
  }
}
