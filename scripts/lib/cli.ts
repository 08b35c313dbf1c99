/** The shared shape of every CLI here: errors print one clear line, exit codes are stable. */
import { GatewayError } from '../../gateway/errors.ts';
import { ConfigError } from '../../gateway/config/load.ts';

/** Wrong arguments: exit code 2 with the help text. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
  }
}

export function runCli(main: (argv: string[]) => Promise<void>): void {
  main(process.argv.slice(2)).catch((error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n\n${error.help}`);
      process.exitCode = 2;
    } else if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
    } else if (error instanceof GatewayError) {
      console.error(`error [${error.code}]: ${error.message}`);
      process.exitCode = 1;
    } else if (
      error instanceof TypeError &&
      'code' in error &&
      String(error.code).startsWith('ERR_PARSE_ARGS')
    ) {
      console.error(`error: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  });
}
