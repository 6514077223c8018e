/**
 * The local control plane's offline parts: the throwaway PKI (checked with openssl itself), the service IP
 * it certifies, and the error a user sees when the binaries were never built.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  LocalControlPlaneError,
  firstServiceIP,
  k8sVersion,
  missingBinaries,
  startLocalControlPlane,
} from "../../testbed/cluster/local";
import { generatePki } from "../../testbed/cluster/local/pki";

const tmp = mkdtempSync(join(tmpdir(), "ctb-pki-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const openssl = (...args: string[]) => execFileSync("openssl", args, { encoding: "utf8" });

describe("throwaway PKI", () => {
  it("issues certificates the CA verifies, with the identities RBAC expects", async () => {
    const pki = await generatePki(join(tmp, "pki"), { serviceIP: "10.96.0.1" });
    for (const pair of [pki.serving, ...Object.values(pki.clients)]) {
      expect(openssl("verify", "-CAfile", pki.ca.cert, pair.cert)).toContain(": OK");
    }
    expect(openssl("x509", "-in", pki.clients.admin.cert, "-noout", "-subject")).toMatch(
      /O\s*=\s*system:masters,\s*CN\s*=\s*ctb-admin/,
    );
    expect(openssl("x509", "-in", pki.clients["kube-scheduler"].cert, "-noout", "-subject")).toMatch(
      /CN\s*=\s*system:kube-scheduler/,
    );
    const serving = openssl(
      "x509",
      "-in",
      pki.serving.cert,
      "-noout",
      "-ext",
      "subjectAltName,extendedKeyUsage",
    );
    expect(serving).toContain("IP Address:127.0.0.1");
    expect(serving).toContain("IP Address:10.96.0.1");
    expect(serving).toContain("DNS:kubernetes.default.svc");
    expect(serving).toContain("TLS Web Server Authentication");
    // The service-account pair matches: the public key derived from the private key is the one written.
    const derived = openssl("pkey", "-in", pki.serviceAccount.privateKey, "-pubout");
    expect(derived).toBe(openssl("pkey", "-pubin", "-in", pki.serviceAccount.publicKey));
  });

  it("gives each run fresh keys", async () => {
    const a = await generatePki(join(tmp, "a"), { serviceIP: "10.96.0.1" });
    const b = await generatePki(join(tmp, "b"), { serviceIP: "10.96.0.1" });
    const fp = (cert: string) => openssl("x509", "-in", cert, "-noout", "-fingerprint", "-sha256");
    expect(fp(a.ca.cert)).not.toBe(fp(b.ca.cert));
  });
});

describe("options", () => {
  it("takes the first address of the service CIDR for the kubernetes Service", () => {
    expect(firstServiceIP("10.96.0.0/12")).toBe("10.96.0.1");
    expect(firstServiceIP("10.100.7.9/16")).toBe("10.100.0.1");
    expect(() => firstServiceIP("10.96.0.0")).toThrow(/not an IPv4 CIDR/);
    expect(() => firstServiceIP("300.1.1.0/24")).toThrow(LocalControlPlaneError);
  });

  it("reads the pinned release from the wrapper module", () => {
    expect(k8sVersion()).toMatch(/^v1\.\d+\.\d+$/);
  });

  it("names build.sh when the binaries are missing, before touching the work dir", async () => {
    const empty = join(tmp, "no-bin");
    expect(missingBinaries(empty, true)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kubectl",
    ]);
    const err = await startLocalControlPlane({ workDir: join(tmp, "ws"), binDir: empty }).catch((e) => e);
    expect(err).toBeInstanceOf(LocalControlPlaneError);
    expect(err.code).toBe("binaries-missing");
    expect(err.message).toContain("bash testbed/cluster/local/build.sh");
  });
});
