/**
 * The API's typed error: an HTTP status and the plain-text reason the client sees (404 → NoIdError,
 * 409 → RefsExistError, 400 → BadRequest in vnc_api). Example: `throw new ApiError(404, "uuid x not found")`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (msg: string): ApiError => new ApiError(400, msg);
export const notFound = (msg: string): ApiError => new ApiError(404, msg);
export const conflict = (msg: string): ApiError => new ApiError(409, msg);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for the canonical (lower-case, hyphenated) uuid text form. */
export const isUuid = (s: unknown): s is string => typeof s === "string" && UUID_RE.test(s);
