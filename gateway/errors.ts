/**
 * Every error the gateway raises on purpose carries a stable, machine-readable code (like better-sqlite3's
 * `SqliteError.code`). Errors are thrown in the core and caught only at boundaries (a driver loop, a message
 * handler, the CLI), where they are counted by code, logged once and survived.
 *
 * Messages must never contain a plaintext reading (privacy invariant 1): say which bound was crossed, not by what.
 */
export type ErrorCode =
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_INVALID'
  | 'CONFIG_ROLLED_BACK'
  | 'PRIVACY_FLOOR'
  | 'BROKER_REFUSED'
  | 'SIGNATURE_MISSING'
  | 'KEY_FILE_MISSING'
  | 'KEY_FILE_UNREADABLE'
  | 'KEY_FILE_INVALID'
  | 'KEY_FILE_INSECURE'
  | 'KEY_FILE_EXISTS'
  | 'PACKING_OVERFLOW'
  | 'EXPONENT_TOO_SHORT'
  | 'READING_UNKNOWN_METER'
  | 'READING_BAD_INTERVAL'
  | 'READING_OUT_OF_BOUNDS'
  | 'READING_DUPLICATE'
  | 'READING_TOO_OLD'
  | 'READING_FROM_FUTURE'
  | 'READING_HOLD_FULL'
  | 'CIPHERTEXT_INVALID'
  | 'SEAL_INVALID'
  | 'ENROLMENT_CODE_INVALID'
  | 'ENROLMENT_REFUSED'
  | 'REQUEST_REPLAYED'
  | 'REQUEST_REFUSED'
  | 'CONSENT_EXPIRED'
  | 'CONSENT_INVALID'
  | 'CONSENT_UNKNOWN'
  | 'CONSENT_LIMIT'
  | 'CONSENT_LOG_INVALID'
  | 'MESSAGE_MALFORMED'
  | 'PACKET_TOO_LARGE'
  | 'SIGNATURE_INVALID'
  | 'UNKNOWN_SENDER'
  | 'STORAGE_FAILED'
  | 'CSV_MALFORMED'
  | 'DRIVER_FAILED'
  // The privacy authority (scripts/authority, docs/key-ceremony.md): why it refused to co-decrypt a record.
  | 'CODECRYPT_BELOW_K'
  | 'CODECRYPT_PERIOD_SHORT'
  | 'CODECRYPT_NOT_RELEASABLE'
  | 'CODECRYPT_CONFLICT'
  | 'CODECRYPT_NO_NOISE'
  | 'CODECRYPT_UNKNOWN_RECORD'
  | 'AUTHORITY_UNAVAILABLE'
  | 'TRANSPARENCY_LOG_INVALID'
  // Meter protocols (drivers/): a frame or payload that cannot be trusted is rejected under one of these.
  | 'FRAME_CHECKSUM'
  | 'FRAME_MALFORMED'
  | 'FRAME_TRUNCATED'
  | 'FRAME_TOO_LONG'
  | 'PAYLOAD_MALFORMED'
  | 'REGISTER_MAP_INVALID'
  | 'MODBUS_EXCEPTION'
  // A Modbus meter's serial-number register could not be read or names no device: it is read unidentified.
  | 'MODBUS_IDENTITY_UNREADABLE'
  | 'DEVICE_TIMEOUT'
  | 'SERIAL_PORT_FAILED'
  | 'SERIAL_PERMISSION'
  | 'DEVICE_BOUND_ELSEWHERE'
  | 'DEVICE_CHANGED'
  | 'DEVICE_NOT_NEW'
  | 'DEVICE_UNVERIFIABLE'
  // A meter with a bound device read on a connection whose device did not report its serial (issue #14 A, F1).
  | 'DEVICE_UNCONFIRMED'
  // A command named a Modbus TCP host that is not an IP literal (a name may resolve elsewhere at each reconnect).
  | 'MODBUS_HOST_NOT_LITERAL'
  | 'METER_ID_RETIRED'
  | 'METER_MOVED'
  | 'NEIGHBOURHOOD_ID_RETIRED'
  | 'MEMBERSHIP_STEERED'
  | 'ENROLMENT_CODE_USED'
  | 'ENROLMENT_DEVICE_MISMATCH'
  // A key file of the wrong kind where the configuration or a tool names one (issue #20): a private key where a
  // public one belongs, or the other way round.
  | 'KEY_KIND_WRONG'

  // The buffer and its data directory (issue #20; docs/buffer.md, docs/reliability.md).
  | 'BUFFER_CORRUPT'
  | 'BUFFER_BEHIND_MARKER'
  | 'DATA_DIR_LOCKED'

  // Delivery (issue #20): a stored batch that fails its own signature, one the MDMS or the broker refused.
  | 'BATCH_CORRUPT'
  | 'BATCH_REFUSED'
  | 'PUBLISH_REFUSED';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isGatewayError(error: unknown, code?: ErrorCode): error is GatewayError {
  return error instanceof GatewayError && (code === undefined || error.code === code);
}

/** The code to count an unexpected error under at a boundary. */
export function errorCode(error: unknown): string {
  if (error instanceof GatewayError) return error.code;
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string')
    return error.code;
  return 'UNEXPECTED';
}

/**
 * Exit code of a start refused because the buffer needs an operator (corrupt, or behind its marker): restarting
 * cannot help, so the systemd unit does not restart on it (RestartPreventExitStatus=, docs/deploy.md).
 */
export const EXIT_NEEDS_OPERATOR = 3;
const NEEDS_OPERATOR: ReadonlySet<ErrorCode> = new Set(['BUFFER_CORRUPT', 'BUFFER_BEHIND_MARKER']);

/** Whether `error` refuses the start until an operator acts (exit code EXIT_NEEDS_OPERATOR). */
export function needsOperator(error: unknown): boolean {
  return error instanceof GatewayError && NEEDS_OPERATOR.has(error.code);
}
