/**
 * Enrolment codes bound to the device (issue #14 A), on a real SQLite buffer whose device store is the ledger, as
 * in the gateway: a code issued for the device bound to its meter enrols; one whose device is not the meter's now
 * is refused (ENROLMENT_DEVICE_MISMATCH) and changes nothing; a code issued unbound is pinned to the meter's device
 * at its use, and the pin is kept with the durable record of the use. The codes file carries each code's device
 * and reads version 1 files as unbound codes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../gateway/buffer/buffer.ts';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { codeKeyPair, generateEnrolmentCode } from '../../../gateway/customer/enrolment-code.ts';
import {
  loadEnrolmentCodes,
  removeEnrolmentCodes,
  storeEnrolmentCode,
} from '../../../gateway/customer/enrolment-codes.ts';
import { applyEnrolment, parseRequest } from '../../../gateway/customer/enrolment.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { enrolRequest } from '../../../scripts/lib/customer/client.ts';
import { openTestBuffer } from '../../helpers/buffer.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const GW = 'gw-1';
const T = Date.parse('2026-12-01T12:00:00Z');
const NORTH = { id: 'm1', neighbourhood: 'north' };
const SOURCE = 'serial:/dev/ttyUSB0';
const DEVICE = 'meter-serial:E0044007';

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

/** A gateway's buffer and a code for m1 issued for `device` (undefined: issued before the meter was read). */
function site(device: string | undefined) {
  const buffer = openTestBuffer(97n * 97n, new Metrics());
  buffers.push(buffer);
  const code = generateEnrolmentCode();
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'codes-')), 'enrolment-codes.json');
  storeEnrolmentCode(file, 'm1', codeKeyPair(code, GW, 'm1').publicKey, device);
  const enrol = (now = T) => {
    const { message } = enrolRequest({
      gatewayId: GW,
      meterId: 'm1',
      keys: generateCustomerKeys(),
      authority: { kind: 'code', code },
      now,
    });
    const signed = parseRequest(Buffer.from(message));
    if (signed.request.type !== 'enrol') throw new Error('not an enrolment');
    return applyEnrolment(
      { ...signed, request: signed.request },
      {
        gatewayId: GW,
        meters: new Set(['m1', 'm2']),
        codes: loadEnrolmentCodes(file),
        ledger: buffer.devices,
        store: buffer.customers,
        now,
      },
    );
  };
  const uses = () => buffer.db.prepare('SELECT meter_id, identity FROM used_enrolment_codes').all();
  const snapshot = () => ({ customers: buffer.db.prepare('SELECT * FROM customers').all(), uses: uses() });
  return { buffer, devices: buffer.devices, file, enrol, uses, snapshot };
}

describe('an enrolment code bound to the device', () => {
  it('enrols while its device is bound to the meter, by its reported identity or its source', () => {
    const s = site(DEVICE);
    s.devices.bindSources(NORTH, [SOURCE], T);
    s.devices.identify(NORTH, DEVICE, T);
    expect(s.enrol().meterId).toBe('m1');
    expect(s.uses()).toEqual([{ meter_id: 'm1', identity: DEVICE }]);

    // Issued when only the source was bound; the device reported itself since: still the same meter's device.
    const bySource = site(SOURCE);
    bySource.devices.bindSources(NORTH, [SOURCE], T);
    bySource.devices.identify(NORTH, DEVICE, T);
    expect(bySource.enrol().meterId).toBe('m1');
  });

  it('is refused when the meter id is bound to another device, or its device to another id', () => {
    const s = site(DEVICE);
    s.devices.bindSources(NORTH, [SOURCE], T);
    s.devices.identify(NORTH, 'meter-serial:OTHER', T);
    const before = s.snapshot();
    expectCode('ENROLMENT_DEVICE_MISMATCH', () => s.enrol());
    expect(() => s.enrol()).toThrow(
      /issued for meter m1 on meter serial E0044007.*bound m1 to meter serial OTHER/,
    );
    expect(s.snapshot()).toEqual(before);

    const moved = site(DEVICE);
    moved.devices.identify({ id: 'm2', neighbourhood: 'north' }, DEVICE, T);
    expectCode('ENROLMENT_DEVICE_MISMATCH', () => moved.enrol());
  });

  it('is refused while the gateway has not read its device under the meter id (a new buffer, a re-home)', () => {
    const s = site(DEVICE);
    expect(() => s.enrol()).toThrow(/has not read that device under this id/);
    expect(s.uses()).toEqual([]);
  });
});

describe('an enrolment code issued unbound', () => {
  it("is pinned at its use to the meter's device, and the pin is kept with the use", () => {
    const s = site(undefined);
    s.devices.bindSources(NORTH, [SOURCE], T);
    s.devices.identify(NORTH, DEVICE, T);
    s.enrol();
    expect(s.uses()).toEqual([{ meter_id: 'm1', identity: DEVICE }]);
    s.buffer.customers.revoke('m1');
    expectCode('ENROLMENT_CODE_USED', () => s.enrol(T + 1));
  });

  it('enrols on the meter id when the meter has not been read yet (its id is bound to its first device)', () => {
    const s = site(undefined);
    s.enrol();
    expect(s.uses()).toEqual([{ meter_id: 'm1', identity: null }]);
  });
});

describe('the codes file', () => {
  it("keeps each code's device (version 2), reads a version 1 file as unbound codes", () => {
    const s = site(DEVICE);
    storeEnrolmentCode(s.file, 'm2', 'B'.repeat(43));
    const stored = JSON.parse(readFileSync(s.file, 'utf8')) as { v: number; devices: Record<string, string> };
    expect(stored.v).toBe(2);
    expect(stored.devices).toEqual({ m1: DEVICE });
    expect([...(loadEnrolmentCodes(s.file).devices ?? [])]).toEqual([['m1', DEVICE]]);
    // A code issued again before the meter is read is unbound again.
    storeEnrolmentCode(s.file, 'm1', 'C'.repeat(43));
    expect(loadEnrolmentCodes(s.file).devices?.size).toBe(0);

    const v1 = { kind: 'meterspace-enrolment-codes', v: 1, meters: { m1: 'A'.repeat(43) } };
    writeFileSync(s.file, JSON.stringify(v1), { mode: 0o600 });
    const read = loadEnrolmentCodes(s.file);
    expect([...read]).toEqual([['m1', 'A'.repeat(43)]]);
    expect(read.devices?.size).toBe(0);
    writeFileSync(s.file, JSON.stringify({ ...v1, devices: { m1: DEVICE } }), { mode: 0o600 });
    expectCode('KEY_FILE_INVALID', () => loadEnrolmentCodes(s.file));
  });

  it('loses the codes of removed meters and those issued for a released device', () => {
    const s = site(DEVICE);
    storeEnrolmentCode(s.file, 'm2', 'B'.repeat(43), 'meter-serial:OTHER');
    storeEnrolmentCode(s.file, 'm3', 'C'.repeat(43));
    expect(removeEnrolmentCodes(s.file, ['m9'], [DEVICE])).toEqual(['m1']);
    expect(removeEnrolmentCodes(s.file, ['m3'], [])).toEqual(['m3']);
    const left = loadEnrolmentCodes(s.file);
    expect([...left.keys()]).toEqual(['m2']);
    expect([...(left.devices ?? [])]).toEqual([['m2', 'meter-serial:OTHER']]);
  });
});
