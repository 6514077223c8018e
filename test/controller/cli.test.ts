/**
 * `ctb controller` command line: bad flags and bad configuration files are rejected with a message naming
 * the flag or key, before anything connects anywhere.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControllerUsageError, main } from "../../controller/cli";
import { ConfigError } from "../../controller/config";

describe("ctb controller flags", () => {
  it("rejects an unknown model", async () => {
    await expect(main(["--model", "r9"])).rejects.toThrow(ControllerUsageError);
    await expect(main(["--model", "r9"])).rejects.toThrow('--model must be r4 or r5, not "r9"');
  });
  it("rejects a bad status port and log level", async () => {
    await expect(main(["--status-port", "http"])).rejects.toThrow("--status-port must be a port number");
    await expect(main(["--log-level", "loud"])).rejects.toThrow(
      "--log-level must be debug, info, warn or error",
    );
  });
  it("rejects unknown flags with the usage text", async () => {
    await expect(main(["--frobnicate"])).rejects.toThrow(
      /Unknown option '--frobnicate'[\s\S]*usage: ctb controller/,
    );
  });
  it("reports a missing config file and a bad key in it", async () => {
    await expect(main(["--config", "/nonexistent/k.conf"])).rejects.toThrow("--config: ENOENT");
    const dir = mkdtempSync(join(tmpdir(), "ctb-cli-"));
    writeFileSync(join(dir, "k.conf"), "[KUBERNETES]\nservice_subnets = 10.96.0.0/40\n");
    const err = await main(["--config", join(dir, "k.conf")]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('[KUBERNETES] service_subnets: "10.96.0.0/40" is not a CIDR');
  });
});
