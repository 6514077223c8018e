/**
 * `ctb reach <from> <to>` against a running environment (ctb up): the set that gets through, Kubernetes' answer
 * and the exit code, as a user sees them; bad endpoints are usage errors.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ctbIn } from "../support/ctb";

const work = mkdtempSync(join(tmpdir(), "ctb-reach-"));
const ctb = ctbIn(work);

describe("ctb reach, connectivity and why", () => {
  afterAll(() => {
    ctb("down");
  });

  it("prints every protocol and port that gets through, and what Kubernetes says", () => {
    const up = ctb("up", "scenarios/section-9.yaml");
    expect(up.code, up.err + up.out).toBe(0);

    // example3's namespace is isolated (seed 000 §9): nothing from example1 gets in
    const blocked = ctb("reach", "default/example1-*", "test-isolated-ns/example3-*");
    expect(blocked.out).toMatch(/gets through: nothing/);
    expect(blocked.code).toBe(1);
    // out of it, everything; the pod answers on its one container port
    const open = ctb("reach", "test-isolated-ns/example3-*", "default/example1-*");
    expect(open.out).toContain("gets through: tcp 1-65535; udp 1-65535; sctp 1-65535; icmp");
    expect(open.out).toMatch(/answered: +tcp 80; icmp/);
    expect(open.out).toMatch(
      /Kubernetes: +tcp 1-65535; udp 1-65535; sctp 1-65535; icmp \(NetworkPolicy semantics agree\)/,
    );
    expect(open.code).toBe(0);

    const json = ctb("reach", "test-isolated-ns/example3-*", "default/example1-*", "--json");
    const r = JSON.parse(json.out);
    expect(r.allows).toBe("tcp 1-65535; udp 1-65535; sctp 1-65535; icmp");
    expect(r.answers).toBe("tcp 80; icmp");
    expect(r.delivered.tcp).toEqual([{ lo: 1, hi: 65535 }]);

    // the whole cluster, grouped; every pair in CSV
    const map = ctb("connectivity");
    expect(map.code).toBe(0);
    expect(map.out).toMatch(
      /^test-isolated-ns\/example3-\S+ => default\/example1-\S+ : tcp 1-65535; udp 1-65535; sctp 1-65535; icmp$/m,
    );
    // the isolated namespace is Contrail's own annotation: Kubernetes semantics would let everything in
    expect(map.out).toMatch(
      /^default\/example1-\S+ => test-isolated-ns\/example3-\S+ : nothing {3}\(Kubernetes: tcp 1-65535; udp 1-65535; sctp 1-65535; icmp\)$/m,
    );
    expect(map.out).toContain(
      "4 of 12 pairs of pods: Contrail and Kubernetes NetworkPolicy semantics differ",
    );
    const csv = ctb("connectivity", "-o", "csv");
    expect(csv.out.trim().split("\n")).toHaveLength(13);
    expect(ctb("connectivity", "-o", "svg").code).toBe(2);

    // why not: verified in a copy of the environment
    const why = ctb(
      "why",
      "default/example1-*",
      "test-isolated-ns/example3-*",
      "--proto",
      "tcp",
      "--port",
      "80",
    );
    expect(why.code, why.err).toBe(0);
    expect(why.out).toContain(
      "kubectl annotate namespace test-isolated-ns opencontrail.kubernetes.isolated-",
    );
    expect(ctb("why", "default/example1-*").code).toBe(2);
    expect(ctb("why", "default/example1-*", "default/example2-*", "--proto", "tcp").err).toContain(
      "--proto tcp needs --port",
    );
    // ends that name nothing: a usage error (exit 2) saying which, no stack trace
    for (const [to, message] of [
      ["service:default/example2", "service:default/example2: no Service default/example2"],
      ["default/nope-*", "no pod default/nope-*"],
      ["external:nope", "nope"],
    ]) {
      const bad = ctb("why", "default/example1-*", to!, "--proto", "tcp", "--port", "80");
      expect(bad.code, bad.err).toBe(2);
      expect(bad.err).toContain(message);
      expect(bad.err).not.toMatch(/\n\s+at /);
    }

    const bad = ctb("reach", "default/example1-*");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("two endpoints, <from> and <to>, are needed");
    const unknown = ctb("reach", "default/example1-*", "nowhere");
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/to "nowhere" must be/);
    expect(unknown.err).not.toMatch(/\n\s+at /);
  }, 180_000);
});
