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
  it("reports a missing config file, and a bad line or value in it at file:line", async () => {
    await expect(main(["--config", "/nonexistent/k.conf"])).rejects.toThrow(
      "--config /nonexistent/k.conf: no such file",
    );
    const dir = mkdtempSync(join(tmpdir(), "ctb-cli-"));
    const conf = join(dir, "k.conf");
    writeFileSync(conf, "[KUBERNETES]\ncluster_name = c\nservice_subnets = 10.96.0.0/40\n");
    const err = await main(["--config", conf]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControllerUsageError);
    expect((err as Error).message).toBe(
      `${conf}:3: [KUBERNETES] service_subnets: "10.96.0.0/40" is not a CIDR`,
    );
    writeFileSync(conf, "[KUBERNETES]\n[VNC\n");
    await expect(main(["--config", conf])).rejects.toThrow(`${conf}:2: expected "key = value", got "[VNC"`);
  });
  it("a bad --set value is named by its key (not the file's line), an unknown key lists the known ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-cli-"));
    const conf = join(dir, "k.conf");
    writeFileSync(conf, "[VNC]\nvnc_endpoint_port = 8082\n");
    const err = await main(["--config", conf, "--set", "vnc_endpoint_port=0"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('[VNC] vnc_endpoint_port: "0" is not a port number (1-65535)');
    await expect(main(["--set", "kubernetes_api_secure_port=99999"])).rejects.toThrow(
      '[KUBERNETES] kubernetes_api_secure_port: "99999" is not a port number (1-65535)',
    );
    await expect(main(["--set", "nosuch=1"])).rejects.toThrow(
      /nosuch: not a kube-manager option the testbed reads \(cluster_name, /,
    );
  });
});
