/**
 * CNI error codes and the typed error every failure path of the plugin throws. The executable prints it as
 * the spec's error JSON on stdout and exits non-zero; nothing else ever reaches the runtime.
 *
 * Example: `throw new CniError(CniCode.TryAgainLater, "vm-cfg for k8s__default__web not ready")`.
 */

export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableContainersAffected: 51,
  /** Plugin specific (100+): the vrouter agent answered with something unusable. */
  AgentError: 100,
  /** The vrouter agent's port API could not be reached at all. */
  AgentUnreachable: 101,
  /** An `ip` (netlink) operation failed. */
  InterfaceError: 102,
  /** CHECK found the attachment ADD created missing or different. */
  CheckFailed: 103,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  constructor(
    readonly code: CniCodeValue,
    msg: string,
    readonly details = "",
  ) {
    super(msg);
    this.name = "CniError";
  }

  /** The spec's error object; `cniVersion` follows the request's config when it is known. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    const out: { cniVersion: string; code: number; msg: string; details?: string } = {
      cniVersion,
      code: this.code,
      msg: this.message,
    };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Wrap anything thrown at an edge into a CniError without losing a typed one. */
export function asCniError(err: unknown, code: CniCodeValue, context: string): CniError {
  if (err instanceof CniError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new CniError(code, `${context}: ${text}`);
}
