/**
 * The push protocols a serial port can speak, by the name used in the config (`drivers.serial.<port>.protocol`).
 */
import type { z } from 'zod';
import { GatewayError } from '../../gateway/errors.ts';
import type { SerialPortSchema } from '../../gateway/config/drivers-schema.ts';
import { hasCrc } from '../dsmr/dsmr-version.ts';
import { DSMR_AUTO_LINES, lineSettingsFor } from '../dsmr/line-settings.ts';
import { decryptSmartyFrame } from '../dsmr/smarty-frame.ts';
import { SmartyFramer } from '../dsmr/smarty-framer.ts';
import { readSecretFile } from '../../gateway/keys/files.ts';
import { TelegramFramer } from '../dsmr/telegram-framer.ts';
import { modeDProtocol } from '../iec62056-21/mode-d.ts';
import { parseTelegram } from '../dsmr/telegram-parser.ts';
import { SmlFramer } from '../sml/sml-framer.ts';
import { parseSmlFrame } from '../sml/sml-parser.ts';
import type { PushProtocol } from './push-protocol.ts';

type PortConfig = z.infer<typeof SerialPortSchema>;

/** SML meters (eHZ) send 9600 8N1 on their optical interface (BSI TR-03109-1 / FNN Lastenheft). */
const SML_LINE = { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 } as const;

export function pushProtocolFor(port: PortConfig): PushProtocol {
  switch (port.protocol) {
    case 'dsmr':
      if (port.decryptionKeyFile) return smartyProtocol(port, port.decryptionKeyFile);
      return {
        name: 'dsmr',
        ...dsmrLine(port.dsmrVersion),
        framer: (onReject) => new TelegramFramer({ onReject }),
        // With `auto`, a CRC is required of telegrams that declare version 4.0 or later (the parser's rule).
        parse: (frame) =>
          parseTelegram(frame, {
            mbus: port.mbus,
            requireCrc: port.dsmrVersion !== 'auto' && hasCrc(port.dsmrVersion),
          }),
      };
    case 'sml':
      return {
        name: 'sml',
        line: SML_LINE,
        framer: (onReject) => new SmlFramer({ onReject }),
        parse: parseSmlFrame,
      };
    case 'iec62056-21':
      if (port.iec.mode === 'D') return modeDProtocol();
      throw new GatewayError('DRIVER_FAILED', 'IEC 62056-21 mode C is polled, not pushed (ModeCDriver)');
  }
}

function dsmrLine(version: PortConfig['dsmrVersion']): Pick<PushProtocol, 'line' | 'lineCandidates'> {
  if (version === 'auto') return { line: DSMR_AUTO_LINES[0]!, lineCandidates: DSMR_AUTO_LINES };
  return { line: lineSettingsFor(version) };
}

/** Luxembourg Smarty: DSMR 5 telegrams inside AES-128-GCM frames (drivers/dsmr/smarty-frame.ts). */
function smartyProtocol(port: PortConfig, keyFile: string): PushProtocol {
  const hex = readSecretFile(keyFile, 'Smarty decryption key').trim();
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) {
    throw new GatewayError('KEY_FILE_INVALID', `${keyFile}: a Smarty key is 32 hex digits`);
  }
  const key = Buffer.from(hex, 'hex');
  const authenticationKey = Buffer.from(port.authenticationKey, 'hex');
  return {
    name: 'dsmr',
    ...dsmrLine(port.dsmrVersion),
    framer: (onReject) => new SmartyFramer({ onReject }),
    parse: (frame) =>
      parseTelegram(decryptSmartyFrame(frame, key, authenticationKey), { mbus: port.mbus, requireCrc: true }),
  };
}
