/** The shared shape of every CLI here: errors print one clear line, exit codes are stable. */
import { EXIT_NEEDS_OPERATOR, GatewayError, needsOperator } from '../../gateway/errors.ts';
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
    // Exit now: a daemon that failed half-way through its start may hold sockets and timers open.
    process.exit(report(error));
  });
}

/** Prints the error in one clear line and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}\n\n${error.help}`);
    return 2;
  }
  if (error instanceof GatewayError) {
    console.error(`error [${error.code}]: ${error.message}`);
    if (needsOperator(error)) return EXIT_NEEDS_OPERATOR;
    return error instanceof ConfigError ? 2 : 1;
  }
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`error: ${error.message}`);
    return 2;
  }
  console.error(error);
  return 1;
}
