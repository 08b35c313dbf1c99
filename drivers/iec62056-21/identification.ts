/**
 * The three short messages that open an IEC 62056-21 exchange (6.3.1–6.3.3):
 * - request (reader → meter, 300 baud): "/?" [device address] "!" CR LF;
 * - identification (meter → reader): "/" XXX Z ["\" W] ident CR LF: XXX the manufacturer's FLAG id, Z the baud
 *   rate identification character, W the enhanced identification character ("2": binary mode E available);
 * - acknowledgement/option select (reader → meter, modes C and E): ACK V Z Y CR LF: V protocol control
 *   ("0" normal), Z the baud rate chosen, Y mode control ("0" data readout, "1" programming, "2" binary HDLC).
 *
 * The baud rate identification character depends on the mode (6.3.2 and the mode descriptions of 6.4):
 * mode C/E "0"…"6" = 300…19200 ("7"…"9" reserved; mode D meters send "3" for their fixed 2400), mode B
 * "A"…"F" = 600…19200 ("G"…"I" reserved), mode A any other character: no change from 300.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { ACK, CR, LF, indexOfCrLf } from './protocol.ts';

export type BaudMode = 'A' | 'B' | 'C';

export interface Identification {
  /** The manufacturer's three-letter FLAG id as sent ("ISk", "EMH"). */
  manufacturer: string;
  /** The baud rate identification character Z. */
  baudChar: string;
  /** The mode family of Z: "C" for digits (modes C, D, E), "B" for "A"…"I", "A" for anything else. */
  mode: BaudMode;
  /** The highest baud rate the meter offers (300 in mode A); undefined for a reserved character. */
  baud: number | undefined;
  /** The enhanced identification character W after "\" ("2" = binary mode E), where sent. */
  enhanced: string | undefined;
  /** The manufacturer-specific identification ("MT174-0001"). */
  ident: string;
  /** The third letter is lower case: the meter may answer after 20 ms instead of 200 ms. */
  fastReaction: boolean;
  /** The message as sent without CR LF ("/ISk5MT174-0001"): `MeterFrame.identification`. */
  text: string;
}

const MODE_C_BAUDS = [300, 600, 1200, 2400, 4800, 9600, 19200];
const MODE_B_BAUDS = [600, 1200, 2400, 4800, 9600, 19200];
/** The standard allows 16 characters of identification; twice that tolerates meters that overrun it. */
export const MAX_IDENT_LENGTH = 32;
/** "/" XXX Z "\" W ident CR LF at its longest. */
export const MAX_IDENTIFICATION_BYTES = 1 + 3 + 1 + 2 + MAX_IDENT_LENGTH + 2;
/** Device addresses (6.3.1): up to 32 digits, letters and spaces. */
const DEVICE_ADDRESS = /^[0-9A-Za-z ]{0,32}$/;

/** The baud rate of a mode C/E baud character, undefined when reserved or not a digit. */
export function modeCBaud(char: string): number | undefined {
  return /^[0-6]$/.test(char) ? MODE_C_BAUDS[Number(char)] : undefined;
}

/** The mode C/E character of a baud rate, undefined when the table has none. */
export function modeCBaudChar(baud: number): string | undefined {
  const i = MODE_C_BAUDS.indexOf(baud);
  return i < 0 ? undefined : String(i);
}

function baudOf(char: string): { mode: BaudMode; baud: number | undefined } {
  if (/^[0-9]$/.test(char)) return { mode: 'C', baud: modeCBaud(char) };
  if (/^[A-I]$/.test(char)) return { mode: 'B', baud: MODE_B_BAUDS[char.charCodeAt(0) - 65] };
  return { mode: 'A', baud: 300 };
}

/** Printable 7-bit characters other than "/" and "!", which delimit messages. */
function isTextChar(byte: number): boolean {
  return byte >= 0x20 && byte <= 0x7e && byte !== 0x2f && byte !== 0x21;
}

/**
 * Parses one identification message, "/" through CR LF. Throws FRAME_TRUNCATED when the CR LF is missing,
 * FRAME_MALFORMED when anything else is off.
 */
export function parseIdentification(message: Uint8Array): Identification {
  const end = indexOfCrLf(message);
  if (end < 0) throw new GatewayError('FRAME_TRUNCATED', 'identification message without CR LF');
  if (end !== message.length - 2) {
    throw new GatewayError('FRAME_MALFORMED', 'bytes after the identification message');
  }
  if (message[0] !== 0x2f)
    throw new GatewayError('FRAME_MALFORMED', 'identification does not begin with "/"');
  if (end > MAX_IDENTIFICATION_BYTES - 2) {
    throw new GatewayError('FRAME_MALFORMED', `identification longer than ${MAX_IDENTIFICATION_BYTES} bytes`);
  }
  const text = Buffer.from(message.subarray(0, end)).toString('latin1');
  for (let i = 1; i < end; i++) {
    const byte = message[i]!;
    if (!isTextChar(byte)) {
      throw new GatewayError('FRAME_MALFORMED', 'identification contains a character it may not carry');
    }
  }
  const manufacturer = text.slice(1, 4);
  const baudChar = text.charAt(4);
  if (!/^[A-Za-z]{3}$/.test(manufacturer) || baudChar === '') {
    throw new GatewayError('FRAME_MALFORMED', 'identification has no manufacturer id and baud character');
  }
  let rest = text.slice(5);
  let enhanced: string | undefined;
  if (rest.startsWith('\\')) {
    enhanced = rest.charAt(1);
    if (enhanced === '') throw new GatewayError('FRAME_MALFORMED', 'identification ends after "\\"');
    rest = rest.slice(2);
  }
  if (rest.length > MAX_IDENT_LENGTH) {
    throw new GatewayError('FRAME_MALFORMED', `identification longer than ${MAX_IDENT_LENGTH} characters`);
  }
  const { mode, baud } = baudOf(baudChar);
  const third = manufacturer.charAt(2);
  return {
    manufacturer,
    baudChar,
    mode,
    baud,
    enhanced,
    ident: rest,
    fastReaction: third !== third.toUpperCase(),
    text,
  };
}

/** Builds the request message "/?" address "!" CR LF. Throws CONFIG_INVALID for an address 6.3.1 forbids. */
export function requestMessage(address = ''): Buffer {
  if (!DEVICE_ADDRESS.test(address)) {
    throw new GatewayError(
      'CONFIG_INVALID',
      'IEC 62056-21 device address: up to 32 digits, letters or spaces',
    );
  }
  return Buffer.from(`/?${address}!\r\n`, 'latin1');
}

/** The device address of a request message, or undefined when the bytes are not one. */
export function parseRequestMessage(message: Uint8Array): string | undefined {
  const text = Buffer.from(message).toString('latin1');
  const match = /^\/\?([0-9A-Za-z ]{0,32})!\r\n$/.exec(text);
  return match?.[1];
}

export interface IdentificationFields {
  /** Three letters; a lower-case third letter announces the 20 ms reaction time. */
  manufacturer: string;
  /** The baud rate identification character ("5" for 9600 in mode C). */
  baudChar: string;
  ident: string;
  enhanced?: string;
}

/** Builds an identification message (the meter side). Throws FRAME_MALFORMED for fields it cannot carry. */
export function identificationMessage(fields: IdentificationFields): Buffer {
  const enhanced = fields.enhanced === undefined ? '' : `\\${fields.enhanced}`;
  const message = Buffer.from(
    `/${fields.manufacturer}${fields.baudChar}${enhanced}${fields.ident}\r\n`,
    'latin1',
  );
  parseIdentification(message);
  return message;
}

export interface OptionSelect {
  /** V: "0" normal protocol procedure, "1" secondary, "2" binary mode (HDLC). */
  protocolControl: string;
  /** Z: the baud rate the reader selects, as a mode C character. */
  baudChar: string;
  baud: number | undefined;
  /** Y: "0" data readout, "1" programming mode, "2" binary mode (HDLC). */
  modeControl: string;
}

/** Builds the acknowledgement/option select message ACK V Z Y CR LF for a mode C/E baud rate. */
export function optionSelectMessage(baud: number, modeControl = '0', protocolControl = '0'): Buffer {
  const baudChar = modeCBaudChar(baud);
  if (baudChar === undefined) {
    throw new GatewayError('CONFIG_INVALID', `${baud} baud has no IEC 62056-21 mode C baud character`);
  }
  return Buffer.from([
    ACK,
    protocolControl.charCodeAt(0),
    baudChar.charCodeAt(0),
    modeControl.charCodeAt(0),
    CR,
    LF,
  ]);
}

/** The fields of an option select message, or undefined when the bytes are not one. */
export function parseOptionSelect(message: Uint8Array): OptionSelect | undefined {
  if (message.length !== 6 || message[0] !== ACK || message[4] !== CR || message[5] !== LF) return undefined;
  const [v, z, y] = [message[1]!, message[2]!, message[3]!].map((b) => String.fromCharCode(b)) as [
    string,
    string,
    string,
  ];
  if (!/^[0-9]$/.test(v) || !/^[0-9]$/.test(z) || !/^[0-9A-Z]$/.test(y)) return undefined;
  return { protocolControl: v, baudChar: z, baud: modeCBaud(z), modeControl: y };
}
