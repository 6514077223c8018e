/**
 * The Kubernetes NetworkPolicy oracle (testbed/oracle/kubernetes.ts) on the rules that are easy to get wrong,
 * each against the API reference (networking.k8s.io/v1) or the API server's defaulting code:
 * default policyTypes, empty and absent selectors and lists, namespaceSelector+podSelector in one peer vs two,
 * ipBlock with except, named ports resolved on the destination pod, endPort ranges, ICMP against rules with
 * ports, endpoints that are not pods, and the points where test/oracle/cross-check.test.ts had to leave
 * network-config-analyzer out (worlds.ts says why).
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { type Connection, kubernetesVerdict, policyTypes, type World } from "../../testbed/oracle/kubernetes";

function ns(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

type ContainerPort = { name?: string; containerPort: number; protocol?: string };
function pod(
  namespace: string,
  name: string,
  ip: string,
  labels: Record<string, string> = {},
  ports: ContainerPort[] = [],
) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: "c", image: "pause", ports }] },
    status: { phase: "Running", podIP: ip },
  } as KubeObject;
}

// biome-ignore lint/suspicious/noExplicitAny: policy specs are written inline as the API accepts them
function np(namespace: string, name: string, spec: any): KubeObject {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace }, spec };
}

// Two namespaces, three pods: a/web (http=8080, dns/UDP 53), a/client, b/client.
const NAMESPACES = [ns("a", { team: "blue" }), ns("b", { team: "red" })];
const web = pod("a", "web", "10.1.0.1", { app: "web" }, [
  { name: "http", containerPort: 8080 },
  { name: "dns", containerPort: 53, protocol: "UDP" },
]);
const clientA = pod("a", "client", "10.1.0.2", { app: "client" }, [{ name: "http", containerPort: 80 }]);
const clientB = pod("b", "client", "10.1.0.3", { app: "client" });
const PODS = [web, clientA, clientB];

function world(...policies: KubeObject[]): World {
  return { namespaces: NAMESPACES, pods: PODS, policies };
}
const at = (p: KubeObject) => ({ pod: p, ip: p.status.podIP as string });
const ext = (ip: string) => ({ ip });

function allowed(
  w: World,
  from: Connection["from"],
  to: Connection["to"],
  proto: Connection["proto"] = "tcp",
  port?: number,
) {
  return kubernetesVerdict(w, { from, to, proto, port: proto === "icmp" ? undefined : (port ?? 80) }).allowed;
}

describe("policyTypes defaulting (pkg/apis/networking/v1/defaults.go)", () => {
  it("absent: Ingress, plus Egress only when there are egress rules", () => {
    expect(policyTypes(np("a", "p", { podSelector: {} }))).toEqual(["Ingress"]);
    expect(policyTypes(np("a", "p", { podSelector: {}, egress: [{}] }))).toEqual(["Ingress", "Egress"]);
    expect(policyTypes(np("a", "p", { podSelector: {}, ingress: [{}] }))).toEqual(["Ingress"]);
  });

  it("an empty egress list does not make the policy an egress policy (len(spec.Egress) != 0)", () => {
    const w = world(np("a", "p", { podSelector: {}, egress: [] }));
    expect(policyTypes(w.policies[0])).toEqual(["Ingress"]);
    // web is isolated for ingress (no rules: nothing in), but its egress stays open
    expect(allowed(w, at(web), at(clientB))).toBe(true);
    expect(allowed(w, at(clientB), at(web))).toBe(false);
  });

  it("an empty policyTypes list is defaulted like an absent one", () => {
    expect(policyTypes(np("a", "p", { podSelector: {}, policyTypes: [] }))).toEqual(["Ingress"]);
  });

  it("rules of a type that policyTypes leaves out are ignored", () => {
    const w = world(np("a", "p", { podSelector: {}, policyTypes: ["Egress"], ingress: [{}] }));
    // isolated for egress with no egress rule; ingress not isolated at all
    expect(allowed(w, at(web), at(clientB))).toBe(false);
    expect(allowed(w, at(clientB), at(web))).toBe(true);
    expect(
      kubernetesVerdict(w, { from: at(clientB), to: at(web), proto: "tcp", port: 80 }).ingress.isolated,
    ).toBe(false);
  });

  it("explicit [Egress, Ingress] works in either order", () => {
    const w = world(np("a", "p", { podSelector: {}, policyTypes: ["Egress", "Ingress"] }));
    expect(allowed(w, at(web), at(clientB))).toBe(false);
    expect(allowed(w, at(clientB), at(web))).toBe(false);
  });
});

describe("isolation and combination", () => {
  it("no policy: everything is allowed", () => {
    expect(allowed(world(), at(clientB), at(web), "udp", 9)).toBe(true);
  });

  it("a policy selects only pods of its own namespace", () => {
    const w = world(np("b", "p", { podSelector: { matchLabels: { app: "web" } } }));
    expect(allowed(w, at(clientA), at(web))).toBe(true);
  });

  it("a connection needs the source's egress AND the destination's ingress", () => {
    const egressOpen = np("b", "out", { podSelector: {}, policyTypes: ["Egress"], egress: [{}] });
    const ingressShut = np("a", "in", { podSelector: { matchLabels: { app: "web" } } });
    expect(allowed(world(egressOpen), at(clientB), at(web))).toBe(true);
    expect(allowed(world(egressOpen, ingressShut), at(clientB), at(web))).toBe(false);
    const egressShut = np("b", "out", { podSelector: {}, policyTypes: ["Egress"] });
    const ingressOpen = np("a", "in", { podSelector: {}, ingress: [{}] });
    expect(allowed(world(egressShut, ingressOpen), at(clientB), at(web))).toBe(false);
  });

  it("policies are additive: any rule of any selecting policy admits", () => {
    const deny = np("a", "deny", { podSelector: {} });
    const allowB = np("a", "allow-b", {
      podSelector: { matchLabels: { app: "web" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "red" } } }] }],
    });
    const v = kubernetesVerdict(world(deny, allowB), {
      from: at(clientB),
      to: at(web),
      proto: "tcp",
      port: 80,
    });
    expect(v.allowed).toBe(true);
    expect(v.ingress.allowedBy).toEqual(["a/allow-b"]);
    expect(v.ingress.isolatedBy).toEqual(["a/deny", "a/allow-b"]);
    expect(allowed(world(deny, allowB), at(clientA), at(web))).toBe(false);
  });
});

describe("empty and absent selectors and lists", () => {
  it("ingress: [] admits nothing; ingress: [{}] admits everything; from: [] is every peer", () => {
    expect(allowed(world(np("a", "p", { podSelector: {}, ingress: [] })), at(clientA), at(web))).toBe(false);
    expect(allowed(world(np("a", "p", { podSelector: {}, ingress: [{}] })), at(clientB), at(web))).toBe(true);
    expect(
      allowed(
        world(np("a", "p", { podSelector: {}, ingress: [{ from: [] }] })),
        ext("198.51.100.1"),
        at(web),
      ),
    ).toBe(true);
  });

  it("peer podSelector {} alone: every pod of the policy's namespace, no other", () => {
    const w = world(np("a", "p", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }));
    expect(allowed(w, at(clientA), at(web))).toBe(true);
    expect(allowed(w, at(clientB), at(web))).toBe(false);
    expect(allowed(w, ext("10.1.0.3"), at(web))).toBe(false);
  });

  it("peer namespaceSelector {}: every pod of every namespace, but no address outside the cluster", () => {
    const w = world(np("a", "p", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }));
    expect(allowed(w, at(clientB), at(web))).toBe(true);
    expect(allowed(w, ext("198.51.100.1"), at(web))).toBe(false);
  });

  it("selector operators: NotIn and DoesNotExist match pods without the key; In and Exists do not", () => {
    const rule = (matchExpressions: unknown[]) =>
      world(
        np("a", "p", {
          podSelector: { matchLabels: { app: "web" } },
          ingress: [{ from: [{ podSelector: { matchExpressions } }] }],
        }),
      );
    expect(allowed(rule([{ key: "tier", operator: "NotIn", values: ["x"] }]), at(clientA), at(web))).toBe(
      true,
    );
    expect(allowed(rule([{ key: "tier", operator: "DoesNotExist" }]), at(clientA), at(web))).toBe(true);
    expect(allowed(rule([{ key: "tier", operator: "In", values: ["x"] }]), at(clientA), at(web))).toBe(false);
    expect(allowed(rule([{ key: "tier", operator: "Exists" }]), at(clientA), at(web))).toBe(false);
    expect(
      allowed(rule([{ key: "app", operator: "In", values: ["client", "db"] }]), at(clientA), at(web)),
    ).toBe(true);
  });

  it("the API server's namespace name label is selectable", () => {
    const w = world(
      np("a", "p", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "b" } } }] }],
      }),
    );
    expect(allowed(w, at(clientB), at(web))).toBe(true);
    expect(allowed(w, at(clientA), at(web))).toBe(false);
  });
});

describe("namespaceSelector and podSelector: one peer (AND) vs two peers (OR)", () => {
  const one = np("a", "one", {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { team: "red" } },
            podSelector: { matchLabels: { app: "client" } },
          },
        ],
      },
    ],
  });
  const two = np("a", "two", {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { team: "red" } } },
          { podSelector: { matchLabels: { app: "client" } } },
        ],
      },
    ],
  });

  it("one peer: client pods in red namespaces only", () => {
    expect(allowed(world(one), at(clientB), at(web))).toBe(true);
    expect(allowed(world(one), at(clientA), at(web))).toBe(false);
  });

  it("two peers: any pod of a red namespace, or a client pod of the policy's namespace", () => {
    expect(allowed(world(two), at(clientB), at(web))).toBe(true);
    expect(allowed(world(two), at(clientA), at(web))).toBe(true);
  });

  it("Exists in the podSelector of a peer with a namespaceSelector applies in the selected namespaces", () => {
    // network-config-analyzer 2.1.0 evaluates this over the policy's own namespace only (see worlds.ts)
    const w = world(
      np("a", "p", {
        podSelector: { matchLabels: { app: "web" } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: {},
                podSelector: { matchExpressions: [{ key: "app", operator: "Exists" }] },
              },
            ],
          },
        ],
      }),
    );
    expect(allowed(w, at(clientB), at(web))).toBe(true);
  });
});

describe("ipBlock", () => {
  const w = world(
    np("a", "p", {
      podSelector: { matchLabels: { app: "web" } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [{ ipBlock: { cidr: "192.168.0.0/16", except: ["192.168.1.0/24"] } }] }],
      egress: [{ to: [{ ipBlock: { cidr: "10.1.0.0/24", except: ["10.1.0.3/32"] } }] }],
    }),
  );

  it("admits addresses in cidr outside every except", () => {
    expect(allowed(w, ext("192.168.0.1"), at(web))).toBe(true);
    expect(allowed(w, ext("192.168.255.255"), at(web))).toBe(true);
    expect(allowed(w, ext("192.168.1.1"), at(web))).toBe(false);
    expect(allowed(w, ext("192.169.0.1"), at(web))).toBe(false);
  });

  it("applies to pod addresses too (the e2e suite's assumption; implementation-defined)", () => {
    expect(allowed(w, at(web), at(clientA))).toBe(true);
    expect(allowed(w, at(web), at(clientB))).toBe(false);
  });

  it("never matches an address of the other family", () => {
    expect(allowed(w, ext("2001:db8::1"), at(web))).toBe(false);
  });
});

describe("ports", () => {
  const ingressPorts = (ports: unknown[]) => world(np("a", "p", { podSelector: {}, ingress: [{ ports }] }));

  it("a named port is resolved on the destination pod's container ports, with its protocol", () => {
    const w = ingressPorts([{ port: "http" }]);
    expect(allowed(w, at(clientB), at(web), "tcp", 8080)).toBe(true);
    expect(allowed(w, at(clientB), at(web), "tcp", 80)).toBe(false);
    // client a names port 80 "http"
    expect(allowed(w, at(clientB), at(clientA), "tcp", 80)).toBe(true);
    // "dns" is a UDP container port: the entry's default protocol TCP does not match it, UDP does
    expect(allowed(ingressPorts([{ port: "dns" }]), at(clientB), at(web), "udp", 53)).toBe(false);
    expect(allowed(ingressPorts([{ port: "dns" }]), at(clientB), at(web), "tcp", 53)).toBe(false);
    expect(allowed(ingressPorts([{ port: "dns", protocol: "UDP" }]), at(clientB), at(web), "udp", 53)).toBe(
      true,
    );
  });

  it("an egress named port is resolved on the destination, and matches nothing outside the cluster", () => {
    const w = world(
      np("b", "p", { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ port: "http" }] }] }),
    );
    expect(allowed(w, at(clientB), at(web), "tcp", 8080)).toBe(true);
    expect(allowed(w, at(clientB), at(web), "tcp", 80)).toBe(false);
    expect(allowed(w, at(clientB), ext("198.51.100.1"), "tcp", 80)).toBe(false);
  });

  it("port..endPort is an inclusive range; a port without endPort is exact", () => {
    const w = ingressPorts([{ port: 80, endPort: 90 }]);
    expect([79, 80, 85, 90, 91].map((p) => allowed(w, at(clientB), at(web), "tcp", p))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
    expect(allowed(ingressPorts([{ port: 80 }]), at(clientB), at(web), "tcp", 81)).toBe(false);
  });

  it("protocol defaults to TCP; a protocol without a port is every port of it", () => {
    expect(allowed(ingressPorts([{ port: 53 }]), at(clientB), at(web), "udp", 53)).toBe(false);
    const w = ingressPorts([{ protocol: "UDP" }]);
    expect(allowed(w, at(clientB), at(web), "udp", 9999)).toBe(true);
    expect(allowed(w, at(clientB), at(web), "tcp", 9999)).toBe(false);
    expect(allowed(ingressPorts([{ protocol: "SCTP", port: 80 }]), at(clientB), at(web), "sctp", 80)).toBe(
      true,
    );
  });

  it("ICMP matches only rules without ports", () => {
    expect(allowed(ingressPorts([{ port: 80 }]), at(clientB), at(web), "icmp")).toBe(false);
    expect(
      allowed(
        world(np("a", "p", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })),
        at(clientB),
        at(web),
        "icmp",
      ),
    ).toBe(true);
  });
});

describe("endpoints that are not pods", () => {
  const shut = world(np("a", "p", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }));

  it("an external source has no egress policy: only the destination's ingress decides", () => {
    const v = kubernetesVerdict(shut, { from: ext("198.51.100.1"), to: at(web), proto: "tcp", port: 80 });
    expect(v.egress.isolated).toBe(false);
    expect(v.allowed).toBe(false);
    expect(allowed(world(), ext("198.51.100.1"), at(web))).toBe(true);
  });

  it("an external destination has no ingress policy: only the source's egress decides", () => {
    const v = kubernetesVerdict(shut, { from: at(web), to: ext("198.51.100.1"), proto: "udp", port: 53 });
    expect(v.ingress.isolated).toBe(false);
    expect(v.allowed).toBe(false);
    expect(allowed(shut, at(clientB), ext("198.51.100.1"))).toBe(true);
  });

  it("a bare address that happens to be a pod's is judged as an address (no pod policy applies)", () => {
    expect(allowed(shut, ext("10.1.0.3"), ext("10.1.0.1"))).toBe(true);
  });
});
