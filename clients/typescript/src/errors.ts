/**
 * Every failure the client reports: the gateway's error body
 * `{error, code, details}` with its HTTP status, or, for a request that never
 * got an answer or input refused before sending, status 0 and a client code.
 */
export class WalletGateError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'WalletGateError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Codes of failures found by the client itself (status 0). */
export const ClientErrorCode = {
  BAD_INPUT: 'BAD_INPUT',
  NETWORK_ERROR: 'NETWORK_ERROR',
  BAD_RESPONSE: 'BAD_RESPONSE',
  SIGNER_REQUIRED: 'SIGNER_REQUIRED',
  UNSUPPORTED_SCHEME: 'UNSUPPORTED_SCHEME',
} as const;

export function badInput(message: string, details: Record<string, unknown> = {}): WalletGateError {
  return new WalletGateError(0, ClientErrorCode.BAD_INPUT, message, details);
}

/** The error a non-2xx answer stands for; a body that is not the gateway's keeps its status. */
export function errorFromAnswer(status: number, body: unknown): WalletGateError {
  if (body !== null && typeof body === 'object') {
    const { error, code, details } = body as Record<string, unknown>;
    if (typeof error === 'string' && typeof code === 'string') {
      const extra = details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : {};
      return new WalletGateError(status, code, error, extra);
    }
  }
  return new WalletGateError(status, `HTTP_${status}`, `HTTP ${status}`, { body });
}
