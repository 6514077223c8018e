/** The CNI plugin's pure pieces: naming, CNI_ARGS, agent payload decoding, the poll loop, version rules. */
import { describe, expect, it } from "vitest";
import { applyContrailSection, DEFAULT_OPTIONS } from "../../cni/config";
import { parseCniArgs, parseEnv } from "../../cni/env";
import type { CniError } from "../../cni/errors";
import { ipPrefix } from "../../cni/netlink";
import { parseAnnotations, parseVmCfg, parseVmiAddress, pollAgent } from "../../cni/port-api";
import { hostIfname, vmName } from "../../cni/result";
import { confDir } from "../../cni/run";
import { allows } from "../../cni/versions";

describe("naming", () => {
  it("host interface is tap + first 11 chars of <ifname>-<vm-uuid>, within IFNAMSIZ", () => {
    expect(hostIfname("eth0", "5f0c2a1e-1111-4c3b")).toBe("tapeth0-5f0c2a");
    expect(hostIfname("eth0", "5f0c2a1e").length).toBeLessThanOrEqual(15);
  });
  it("VM name is <cluster>__<namespace>__<pod>", () => {
    expect(vmName("k8s", { K8S_POD_NAMESPACE: "prod", K8S_POD_NAME: "api-0" })).toBe("k8s__prod__api-0");
  });
});

describe("environment", () => {
  it("parses CNI_ARGS pairs, keeping '=' inside values", () => {
    expect(parseCniArgs("IgnoreUnknown=1;K8S_POD_NAME=a=b;")).toEqual({
      IgnoreUnknown: "1",
      K8S_POD_NAME: "a=b",
    });
  });
  it("lets DEL run without CNI_NETNS but not ADD", () => {
    const base = { CNI_CONTAINERID: "abc", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin" };
    expect(parseEnv({ ...base, CNI_COMMAND: "DEL" }).command).toBe("DEL");
    expect(() => parseEnv({ ...base, CNI_COMMAND: "ADD" })).toThrow(/CNI_NETNS/);
  });
  it("runs ip in a named namespace directly and enters any other path with nsenter", () => {
    expect(ipPrefix({ path: "/var/run/netns/ctb-a" })).toEqual({ cmd: "ip", args: ["-n", "ctb-a"] });
    expect(ipPrefix({ path: "/proc/42/ns/net" })).toEqual({
      cmd: "nsenter",
      args: ["--net=/proc/42/ns/net", "ip"],
    });
  });
});

describe("agent payloads", () => {
  it("reads annotations in the agent's list form and as an object", () => {
    expect(parseAnnotations(["{index:1/2}", "{network:blue}"])).toEqual({ index: "1/2", network: "blue" });
    expect(parseAnnotations({ index: "0/1" })).toEqual({ index: "0/1" });
  });
  it("treats a vm-cfg with fewer entries than announced as not ready", () => {
    const e = {
      id: "vmi",
      "vm-uuid": "vm",
      "mac-address": "02:00:00:00:00:01",
      annotations: ["{index:0/2}"],
    };
    expect(parseVmCfg(JSON.stringify([e]))).toBeUndefined();
    expect(parseVmCfg(JSON.stringify([e, { ...e, id: "vmi2", annotations: ["{index:1/2}"] }]))).toHaveLength(
      2,
    );
  });
  it("rejects a vm-cfg entry without a MAC with code 100", () => {
    const err = (() => {
      try {
        parseVmCfg(JSON.stringify([{ id: "vmi", "vm-uuid": "vm" }]));
      } catch (e) {
        return e as CniError;
      }
    })();
    expect(err?.code).toBe(100);
  });
  it("waits while the agent has no IP for the VMI yet", () => {
    expect(
      parseVmiAddress(JSON.stringify({ id: "v", "ip-address": "0.0.0.0", plen: 0 }), "v"),
    ).toBeUndefined();
    expect(
      parseVmiAddress(
        JSON.stringify([{ id: "v", "ip-address": "10.0.0.3", plen: 24, gateway: "10.0.0.1" }]),
        "v",
      ),
    ).toEqual({
      ip: "10.0.0.3",
      plen: 24,
      gateway: "10.0.0.1",
      dnsServer: undefined,
      mac: "",
    });
  });
  it("polls past 404s and returns the first ready answer, sleeping between tries", async () => {
    const replies = [
      { status: 404, body: "" },
      { status: 404, body: "" },
      { status: 200, body: '"ok"' },
    ];
    const slept: number[] = [];
    const v = await pollAgent(
      async () => replies.shift()!,
      "/x",
      (b) => JSON.parse(b) as string,
      {
        retries: 5,
        intervalMs: 7,
        sleep: async (ms) => void slept.push(ms),
      },
    );
    expect(v).toBe("ok");
    expect(slept).toEqual([7, 7]);
  });
});

describe("versions and options", () => {
  it("finds the deployed conf file in contrail.conf-dir, else NETCONFPATH, else /etc/cni/net.d", () => {
    expect(confDir({ contrail: { "conf-dir": "/x" } }, { NETCONFPATH: "/y" })).toBe("/x");
    expect(confDir({}, { NETCONFPATH: "/y" })).toBe("/y");
    expect(confDir({}, {})).toBe("/etc/cni/net.d");
  });
  it("allows CHECK from 0.4.0 and GC/STATUS from 1.1.0", () => {
    expect([
      allows("0.3.1", "CHECK"),
      allows("0.4.0", "CHECK"),
      allows("1.0.0", "GC"),
      allows("1.1.0", "STATUS"),
    ]).toEqual([false, true, false, true]);
  });
  it("accepts glog-style numeric log levels from deployed configs", () => {
    expect(applyContrailSection(DEFAULT_OPTIONS, { "log-level": "2" }, "f").logLevel).toBe("info");
    expect(applyContrailSection(DEFAULT_OPTIONS, { "log-level": 4 }, "f").logLevel).toBe("debug");
  });
});
