/**
 * Errors as the Proxmox API server reports them: parameter errors (400 with per-parameter messages),
 * permission errors (403), plain errors (500 with the message as reason phrase), 401 and 501.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** 400 `Parameter verification failed.` with messages by parameter. */
export function paramError(errors: Record<string, string>): ApiError {
  return new ApiError(400, 'Parameter verification failed.\n', errors);
}

/** 403 `Permission check failed (<what>)`. */
export function permissionError(what: string): ApiError {
  return new ApiError(403, `Permission check failed (${what})\n`);
}

/** A plain `die "msg\n"`: 500. */
export function plainError(message: string): ApiError {
  return new ApiError(500, message.endsWith('\n') ? message : `${message}\n`);
}
