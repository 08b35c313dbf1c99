/**
 * A real capture cut into the frames an emulator sends one at a time: DSMR telegrams (the dsmr-tools capture
 * has LF line ends; meters send CR LF, so they are restored), SML transport files, IEC 62056-21 messages.
 */
const SML_START = Buffer.from('1b1b1b1b01010101', 'hex');

export function captureChunks(protocol: 'dsmr' | 'sml' | 'iec62056-21', bytes: Buffer): Buffer[] {
  if (protocol === 'dsmr') {
    const text = bytes.toString('latin1').replace(/\r?\n/g, '\r\n');
    return text
      .split(/(?=^\/)/m)
      .filter((t) => t.startsWith('/'))
      .map((t) => Buffer.from(t, 'latin1'));
  }
  if (protocol === 'sml') {
    const frames: Buffer[] = [];
    let at = bytes.indexOf(SML_START);
    while (at >= 0) {
      const next = bytes.indexOf(SML_START, at + SML_START.length);
      frames.push(bytes.subarray(at, next < 0 ? bytes.length : next));
      at = next;
    }
    return frames.length > 0 ? frames : [bytes];
  }
  return [bytes];
}
