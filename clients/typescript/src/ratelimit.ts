/** The rate-limit headers of an answer (docs/api.md, Rate limits) and how long a 429 asks to wait. */

export interface RateLimit {
  /** Requests allowed in the binding window. */
  limit: number | null;
  remaining: number | null;
  /** When the binding window resets, epoch seconds. */
  reset: number | null;
  /** The binding window's length in seconds. */
  window: number | null;
  /** Seconds to wait, on a 429. */
  retryAfter: number | null;
  /** The IETF fields as sent: `RateLimit` and `RateLimit-Policy`. */
  rateLimit: string | null;
  policy: string | null;
}

function numberOf(headers: Headers, name: string): number | null {
  const text = headers.get(name);
  if (text === null || !/^\d+$/.test(text.trim())) return null;
  return Number(text);
}

export function readRateLimit(headers: Headers): RateLimit | null {
  if (!headers.has('x-ratelimit-limit')) return null;
  return {
    limit: numberOf(headers, 'x-ratelimit-limit'),
    remaining: numberOf(headers, 'x-ratelimit-remaining'),
    reset: numberOf(headers, 'x-ratelimit-reset'),
    window: numberOf(headers, 'x-ratelimit-window'),
    retryAfter: numberOf(headers, 'retry-after'),
    rateLimit: headers.get('ratelimit'),
    policy: headers.get('ratelimit-policy'),
  };
}

/** Milliseconds a 429 asks to wait: Retry-After, else until X-RateLimit-Reset; null when neither. */
export function waitMs(limit: RateLimit | null, nowMs: number): number | null {
  if (limit?.retryAfter != null) return limit.retryAfter * 1000;
  if (limit?.reset != null) return Math.max(0, limit.reset * 1000 - nowMs);
  return null;
}
