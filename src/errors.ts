/**
 * The catalogue of lookout's error codes. Callers decide what to do (retry, skip, stop)
 * from `code` and `retryable`, never from message text.
 */
export const ErrorCodes = {
  /** The configuration is invalid; the message names the key, the value and what is allowed. */
  LOOKOUT_ERR_CONFIG: { retryable: false },
  /** A cgroup file could not be read for a reason other than the cgroup vanishing. */
  LOOKOUT_ERR_CGROUP_READ: { retryable: true },
  /** A cgroup file was read but its content is not what the kernel documents. */
  LOOKOUT_ERR_CGROUP_PARSE: { retryable: false },
  /** Runtime metadata (a Docker config.v2.json, say) was unreadable or malformed. */
  LOOKOUT_ERR_METADATA: { retryable: true },
  /** The host root lacks something the agent needs (no cgroup mount, say). */
  LOOKOUT_ERR_HOST: { retryable: false },
  /** A push to a destination failed in a way that may heal (network error, 408, 429, 5xx). */
  LOOKOUT_ERR_DELIVERY: { retryable: true },
  /** A destination rejected a batch in a way that will not heal (other 4xx); it is not retried. */
  LOOKOUT_ERR_DELIVERY_REJECTED: { retryable: false },
  /** The HTTP server could not start (address in use, say). */
  LOOKOUT_ERR_SERVER: { retryable: false },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class LookoutError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LookoutError';
    this.retryable = ErrorCodes[code].retryable;
  }
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = (err as { code: unknown }).code;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

/** ENOENT and friends: the file or its cgroup is gone, which is normal for containers. */
export function isVanished(err: unknown): boolean {
  const c = errnoCode(err);
  return c === 'ENOENT' || c === 'ENODEV' || c === 'ESRCH' || c === 'ENOTDIR';
}
