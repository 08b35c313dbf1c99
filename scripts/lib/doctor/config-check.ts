/** The configuration file, through the one validator the gateway uses (gateway/config/load.ts). */
import { loadConfigFile } from '../../../gateway/config/load.ts';
import type { Config } from '../../../gateway/config/schema.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { fail, messageOf, ok, type Finding } from './finding.ts';

export function checkConfig(file: string): { finding: Finding; config?: Readonly<Config> } {
  try {
    const config = loadConfigFile(file);
    return {
      finding: ok(
        'config',
        `${file}: valid (${config.meters.length} meters, ${config.neighbourhoods.length} neighbourhoods)`,
      ),
      config,
    };
  } catch (error) {
    if (isGatewayError(error, 'CONFIG_UNREADABLE')) {
      return {
        finding: fail(
          'config',
          messageOf(error),
          `check the path; the service user must be able to read it: sudo chown root:meterspace ${file} && ` +
            `sudo chmod 640 ${file}`,
        ),
      };
    }
    return {
      finding: fail(
        'config',
        messageOf(error),
        'fix each path named above (docs/configuration.md lists every field), then run the doctor again',
      ),
    };
  }
}
