import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { type EmbeddedCluster, createEmbeddedCluster } from "../../testbed/cluster/embedded";
import { pod, rejection } from "./helpers";

let c: EmbeddedCluster;
afterEach(() => c?.close());

const SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

async function invalid(resource: Parameters<EmbeddedCluster["create"]>[0], obj: KubeObject): Promise<string> {
  const e = await rejection(c.create(resource, obj));
  expect([e.status, e.reason]).toEqual([422, "Invalid"]);
  return e.message;
}

function np(spec: unknown): KubeObject {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "p" }, spec };
}

function svc(spec: unknown, name = "s"): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name }, spec };
}

describe("validation messages", () => {
  it("pod without containers", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("pods", { ...pod("x"), spec: {} })).toBe(
      'Pod "x" is invalid: spec.containers: Required value',
    );
  });

  it("object names", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("pods", pod("Foo"))).toBe(
      `Pod "Foo" is invalid: metadata.name: Invalid value: "Foo": ${SUBDOMAIN}`,
    );
    expect(await invalid("pods", { ...pod(""), metadata: {} })).toBe(
      'Pod "" is invalid: metadata.name: Required value: name or generateName is required',
    );
    expect(await invalid("services", svc({ ports: [{ port: 80 }] }, "1abc"))).toContain(
      'Service "1abc" is invalid: metadata.name: Invalid value: "1abc": a DNS-1035 label must consist of lower case alphanumeric characters or \'-\', start with an alphabetic character',
    );
    expect(
      await invalid("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "a.b" } }),
    ).toContain(
      'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of',
    );
  });

  it("several errors are listed in brackets", async () => {
    c = createEmbeddedCluster();
    const msg = await invalid("pods", { ...pod("x"), spec: { containers: [{}] } });
    expect(msg).toBe(
      'Pod "x" is invalid: [spec.containers[0].name: Required value, spec.containers[0].image: Required value]',
    );
  });

  it("labels and annotations", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("pods", pod("x", { "bad key": "v" }))).toBe(
      `Pod "x" is invalid: metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    );
    expect(await invalid("pods", pod("x", { app: "-bad" }))).toBe(
      `Pod "x" is invalid: metadata.labels: Invalid value: "-bad": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    );
    expect(await invalid("pods", pod("x", { app: "a".repeat(64) }))).toContain(
      "must be no more than 63 characters",
    );
    const annotated = pod("x");
    annotated.metadata.annotations = { "Example.COM/x": "fine", "a/b/c": "no" };
    expect(await invalid("pods", annotated)).toContain(
      'metadata.annotations: Invalid value: "a/b/c": a qualified name must consist',
    );
  });

  it("container ports", async () => {
    c = createEmbeddedCluster();
    const bad = pod("x", {}, [
      { containerPort: 70000 },
      { name: "http", containerPort: 80, protocol: "ICMP" },
      { name: "http", containerPort: 81 },
      { name: "Web_port", containerPort: 82 },
    ]);
    expect(await invalid("pods", bad)).toBe(
      'Pod "x" is invalid: [spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive, ' +
        'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP", ' +
        'spec.containers[0].ports[2].name: Duplicate value: "http", ' +
        'spec.containers[0].ports[3].name: Invalid value: "Web_port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)]',
    );
  });

  it("service ports, type and cluster IP", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("services", svc({ selector: { app: "a" } }))).toBe(
      'Service "s" is invalid: spec.ports: Required value',
    );
    expect(await invalid("services", svc({ ports: [{ port: 80 }, { port: 81 }] }))).toBe(
      'Service "s" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]',
    );
    expect(await invalid("services", svc({ ports: [{ port: 70000, targetPort: 80 }] }))).toBe(
      'Service "s" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive',
    );
    expect(await invalid("services", svc({ type: "Foo", ports: [{ port: 80 }] }))).toBe(
      'Service "s" is invalid: spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
    expect(await invalid("services", svc({ clusterIP: "10.96.0.1", ports: [{ port: 80 }] }))).toBe(
      'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.1": provided IP is already allocated',
    );
    expect(await invalid("services", svc({ clusterIP: "192.168.1.1", ports: [{ port: 80 }] }))).toBe(
      'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: "192.168.1.1": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    );
  });

  it("service node ports and external addresses", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("services", svc({ ports: [{ port: 80, nodePort: 30080 }] }))).toBe(
      "Service \"s\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    );
    expect(await invalid("services", svc({ type: "NodePort", ports: [{ port: 80, nodePort: 80 }] }))).toBe(
      'Service "s" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    expect(await invalid("services", svc({ ports: [{ port: 80 }], externalIPs: ["1.2.3"] }))).toBe(
      'Service "s" is invalid: spec.externalIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    );
  });

  it("network policy ports, peers and policy types", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("networkpolicies", np({ podSelector: {}, ingress: [{ from: [{}] }] }))).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.ingress[0].from[0]: Required value: must specify a peer',
    );
    expect(
      await invalid(
        "networkpolicies",
        np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }] }] }),
      ),
    ).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer',
    );
    expect(
      await invalid(
        "networkpolicies",
        np({
          podSelector: {},
          egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["11.0.0.0/16"] } }] }],
        }),
      ),
    ).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
    );
    expect(
      await invalid(
        "networkpolicies",
        np({ podSelector: {}, ingress: [{ ports: [{ port: "serve-8080-tcp-x" }] }] }),
      ),
    ).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.ingress[0].ports[0].port: Invalid value: "serve-8080-tcp-x": must be no more than 15 characters',
    );
    expect(
      await invalid(
        "networkpolicies",
        np({ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }),
      ),
    ).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.ingress[0].ports[0].endPort: Invalid value: 90: must be greater than or equal to `port`',
    );
    expect(await invalid("networkpolicies", np({ podSelector: {}, policyTypes: ["Inbound"] }))).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.policyTypes[0]: Unsupported value: "Inbound": supported values: "Ingress", "Egress"',
    );
    expect(
      await invalid(
        "networkpolicies",
        np({ podSelector: { matchExpressions: [{ key: "a", operator: "In" }] } }),
      ),
    ).toBe(
      "NetworkPolicy.networking.k8s.io \"p\" is invalid: spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    );
  });

  it("deployment selector must match the template", async () => {
    c = createEmbeddedCluster();
    const d: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d" },
      spec: {
        selector: { matchLabels: { app: "a" } },
        template: { metadata: { labels: { app: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    };
    expect(await invalid("deployments", d)).toBe(
      'Deployment.apps "d" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`',
    );
  });

  it("pod spec is immutable apart from images", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", pod("x", {}, [{ containerPort: 80 }]));
    const ok = await c.patch(
      "pods",
      "x",
      "default",
      { spec: { containers: [{ name: "main", image: "nginx:2" }] } },
      "strategic",
    );
    expect(ok.spec.containers[0].image).toBe("nginx:2");
    const e = await rejection(
      c.patch(
        "pods",
        "x",
        "default",
        { spec: { containers: [{ name: "main", ports: [{ containerPort: 81 }] }] } },
        "strategic",
      ),
    );
    expect(e.status).toBe(422);
    expect(e.message).toMatch(
      /^Pod "x" is invalid: spec: Forbidden: pod updates may not change fields other than/,
    );
  });

  it("creating in a terminating namespace is forbidden; system namespaces cannot be deleted", async () => {
    c = createEmbeddedCluster();
    await c.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
    await c.create(
      "pods",
      { ...pod("keep"), metadata: { name: "keep", finalizers: ["example.com/hold"] } },
      "x",
    );
    await c.delete("namespaces", "x");
    await c.waitQuiet();
    const e = await rejection(c.create("pods", pod("a"), "x"));
    expect([e.status, e.message]).toEqual([
      403,
      'pods "a" is forbidden: unable to create new content in namespace x because it is being terminated',
    ]);
    const d = await rejection(c.delete("namespaces", "default"));
    expect([d.status, d.message]).toEqual([
      403,
      'namespaces "default" is forbidden: this namespace may not be deleted',
    ]);
  });
});

describe("defaulting", () => {
  it("pods", async () => {
    c = createEmbeddedCluster();
    const p = await c.create("pods", pod("x", {}, [{ containerPort: 80 }]));
    expect(p.spec).toMatchObject({
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
      terminationGracePeriodSeconds: 30,
    });
    expect(p.spec.containers[0].ports[0].protocol).toBe("TCP");
    expect(p.spec.containers[0].imagePullPolicy).toBe("IfNotPresent");
    expect(p.status.phase).toBe("Pending");
    expect(p.status.qosClass).toBe("BestEffort");
    const limited = pod("g");
    limited.spec.containers[0].resources = { limits: { cpu: "1", memory: "1Gi" } };
    expect((await c.create("pods", limited)).status.qosClass).toBe("Guaranteed");
    const requested = pod("b");
    requested.spec.containers[0].resources = { requests: { cpu: "100m" } };
    expect((await c.create("pods", requested)).status.qosClass).toBe("Burstable");
  });

  it("services", async () => {
    c = createEmbeddedCluster();
    const s = await c.create("services", svc({ selector: { app: "a" }, ports: [{ port: 80 }] }));
    expect(s.spec).toMatchObject({
      type: "ClusterIP",
      sessionAffinity: "None",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
    });
    expect(s.spec.clusterIPs).toEqual([s.spec.clusterIP]);
  });

  it("network policies: Ingress always, Egress when egress rules exist, port protocol TCP", async () => {
    c = createEmbeddedCluster();
    const a = await c.create(
      "networkpolicies",
      np({ podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }),
    );
    expect(a.spec.policyTypes).toEqual(["Ingress"]);
    expect(a.spec.ingress[0].ports[0].protocol).toBe("TCP");
    await c.delete("networkpolicies", "p", "default");
    const b = await c.create("networkpolicies", np({ egress: [{}] }));
    expect(b.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(b.spec.podSelector).toEqual({});
    await c.delete("networkpolicies", "p", "default");
    const eOnly = await c.create("networkpolicies", np({ podSelector: {}, policyTypes: ["Egress"] }));
    expect(eOnly.spec.policyTypes).toEqual(["Egress"]);
  });

  it("namespaces get kubernetes.io/metadata.name, which a user cannot override", async () => {
    c = createEmbeddedCluster();
    const n = await c.create("namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "x", labels: { "kubernetes.io/metadata.name": "y", team: "a" } },
    });
    expect(n.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "x", team: "a" });
  });
});

/*
 * Decoding and field validation, with the messages the real kube-apiserver (v1.34) gives for the same bodies
 * (checked against it by test/differential/bad-objects.test.ts).
 */
describe("decoding: wrong types and unknown fields", () => {
  const container = (extra: Record<string, unknown> = {}) => ({ name: "c", image: "agnhost", ...extra });
  const deploy = (spec: Record<string, unknown>, tpl: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: { metadata: { labels: { app: "web" } }, spec: { containers: [container()], ...tpl } },
      ...spec,
    },
  });
  const podWith = (spec: Record<string, unknown>, md: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", ...md },
    spec: { containers: [container()], ...spec },
  });
  async function badRequest(
    resource: Parameters<EmbeddedCluster["create"]>[0],
    obj: KubeObject,
    fieldValidation?: "Strict" | "Warn" | "Ignore",
  ): Promise<string> {
    const e = await rejection(c.create(resource, obj, undefined, { fieldValidation }));
    expect([e.status, e.reason]).toEqual([400, "BadRequest"]);
    return e.message;
  }

  it("a value of the wrong type is a 400 naming the Go struct field", async () => {
    c = createEmbeddedCluster();
    expect(await badRequest("deployments", deploy({ replicas: "two" }))).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
    );
    expect(await badRequest("deployments", deploy({ replicas: 1.5 }))).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32',
    );
    expect(
      await badRequest("pods", podWith({ containers: [container({ ports: [{ containerPort: "80" }] })] })),
    ).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32',
    );
    expect(await badRequest("pods", podWith({}, { labels: { a: 1 } }))).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string',
    );
    expect(await badRequest("pods", podWith({ containers: { name: "c" } }))).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container',
    );
    expect(await badRequest("services", svc({ ports: [{ port: 80, protocol: 6 }] }))).toBe(
      'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal number into Go struct field ServicePort.spec.ports.protocol of type v1.Protocol',
    );
    expect(await badRequest("services", svc({ ports: [{ port: 80, targetPort: true }] }))).toBe(
      'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32',
    );
    expect(
      await badRequest(
        "networkpolicies",
        np({ podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: "90" }] }] }),
      ),
    ).toBe(
      'NetworkPolicy in version "v1" cannot be handled as a NetworkPolicy: json: cannot unmarshal string into Go struct field NetworkPolicyPort.spec.ingress.ports.endPort of type int32',
    );
    expect(
      await badRequest("namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "n" },
        spec: { finalizers: "kubernetes" },
      }),
    ).toBe(
      'Namespace in version "v1" cannot be handled as a Namespace: json: cannot unmarshal string into Go struct field NamespaceSpec.spec.finalizers of type []v1.FinalizerName',
    );
    expect(
      await badRequest("nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "n" },
        spec: { unschedulable: "yes" },
      }),
    ).toBe(
      'Node in version "v1" cannot be handled as a Node: json: cannot unmarshal string into Go struct field NodeSpec.spec.unschedulable of type bool',
    );
    expect(
      await badRequest("endpointslices", {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "es" },
        addressType: "IPv4",
        endpoints: [],
        ports: [{ port: "80" }],
      }),
    ).toBe(
      'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: json: cannot unmarshal string into Go struct field EndpointPort.ports.port of type int32',
    );
    expect(
      await badRequest("replicationcontrollers", {
        apiVersion: "v1",
        kind: "ReplicationController",
        metadata: { name: "rc" },
        spec: { replicas: "two", selector: { app: "web" } },
      }),
    ).toBe(
      'ReplicationController in version "v1" cannot be handled as a ReplicationController: json: cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.replicas of type int32',
    );
  });

  it("the first type error wins and beats unknown fields; custom decoders speak for themselves", async () => {
    c = createEmbeddedCluster();
    expect(
      await badRequest("deployments", deploy({ replicaz: 2, replicas: "x", minReadySeconds: "y" }), "Strict"),
    ).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
    );
    expect(
      await badRequest(
        "pods",
        podWith({ containers: [container({ resources: { limits: { cpu: "lots" } } })] }),
      ),
    ).toBe(
      "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
    expect(await badRequest("pods", podWith({}, { creationTimestamp: "yesterday" }))).toBe(
      'Pod in version "v1" cannot be handled as a Pod: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"',
    );
    expect(await badRequest("pods", podWith({}, { creationTimestamp: 5 }))).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string',
    );
  });

  it("unknown fields: Strict is a 400 listing all of them, Warn drops them with a warning each, Ignore drops them", async () => {
    c = createEmbeddedCluster();
    expect(
      await badRequest(
        "deployments",
        deploy({ foo: 1 }, { containers: [container({ imagePullPolcy: "Always" })], bar: {} }),
        "Strict",
      ),
    ).toBe(
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolcy", unknown field "spec.template.spec.bar", unknown field "spec.foo"',
    );
    expect(await badRequest("pods", podWith({}, { lables: { a: "b" } }), "Strict")).toBe(
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "metadata.lables"',
    );
    const warnings: string[] = [];
    const warned = await c.create("deployments", deploy({ replicaz: 2 }), undefined, {
      fieldValidation: "Warn",
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings).toEqual(['unknown field "spec.replicaz"']);
    expect(warned.spec.replicaz).toBeUndefined();
    await c.delete("deployments", "web", "default");
    // no fieldValidation: the server's default, Warn
    const quiet: string[] = [];
    const ignored = await c.create("deployments", deploy({ replicaz: 2 }), undefined, {
      fieldValidation: "Ignore",
      onWarning: (w) => quiet.push(w),
    });
    expect([quiet, ignored.spec.replicaz]).toEqual([[], undefined]);
    const byDefault: string[] = [];
    await c.replace(
      "deployments",
      { ...ignored, spec: { ...ignored.spec, replicaz: 3 } },
      { onWarning: (w) => byDefault.push(w) },
    );
    expect(byDefault).toEqual(['unknown field "spec.replicaz"']);
  });

  it("kubectl apply validates strictly", async () => {
    c = createEmbeddedCluster();
    const e = await rejection(c.applyManifest(deploy({ replicaz: 2 })));
    expect([e.status, e.message]).toEqual([
      400,
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"',
    ]);
  });

  it("patched objects are decoded too, and their errors are the server's 422 on `patch`", async () => {
    c = createEmbeddedCluster();
    await c.create("deployments", deploy({}));
    const strategic = await rejection(
      c.patch("deployments", "web", "default", { spec: { replicas: "two" } }, "strategic"),
    );
    expect([strategic.status, strategic.message]).toEqual([
      422,
      ' "" is invalid: patch: Invalid value: "map[spec:map[replicas:two]]": unrecognized type: int32',
    ]);
    const unknown = await rejection(
      c.patch("deployments", "web", "default", { spec: { replicaz: 2, foo: 1 } }, "strategic", {
        fieldValidation: "Strict",
      }),
    );
    expect(unknown.message).toBe(
      ' "" is invalid: patch: Invalid value: "map[spec:map[foo:1 replicaz:2]]": strict decoding error: unknown field "spec.foo", unknown field "spec.replicaz"',
    );
    const merge = await rejection(
      c.patch("deployments", "web", "default", { spec: { replicas: "two" } }, "merge"),
    );
    expect(merge.status).toBe(422);
    expect(merge.message).toMatch(
      /^ "" is invalid: patch: Invalid value: "\{.*\}": json: cannot unmarshal string into Go struct field DeploymentSpec\.spec\.replicas of type int32$/,
    );
    const warnings: string[] = [];
    await c.patch("deployments", "web", "default", { spec: { replicaz: 2 } }, "merge", {
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings).toEqual(['unknown field "spec.replicaz"']);
  });

  it("values JSON cannot carry are left out (NaN would make every write look like a change)", async () => {
    c = createEmbeddedCluster();
    const d = await c.create("deployments", deploy({ minReadySeconds: Number.NaN, paused: undefined }));
    expect("minReadySeconds" in d.spec).toBe(false);
  });
});

describe("enum fields", () => {
  it("Service type, container protocol, imagePullPolicy, restartPolicy, policyTypes", async () => {
    c = createEmbeddedCluster();
    expect(await invalid("services", svc({ type: "Foo", ports: [{ port: 80 }] }))).toBe(
      'Service "s" is invalid: spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
    expect(await invalid("pods", pod("p", {}, [{ containerPort: 80, protocol: "XTCP" }]))).toBe(
      'Pod "p" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: "XTCP": supported values: "SCTP", "TCP", "UDP"',
    );
    const pulling = pod("p");
    pulling.spec.containers[0].imagePullPolicy = "Sometimes";
    expect(await invalid("pods", pulling)).toBe(
      'Pod "p" is invalid: spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
    );
    expect(
      await invalid("pods", { ...pod("p"), spec: { ...pod("p").spec, restartPolicy: "Sometimes" } }),
    ).toBe(
      'Pod "p" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    );
    const d = (restartPolicy: string): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { restartPolicy, containers: [{ name: "c", image: "i" }] },
        },
      },
    });
    expect(await invalid("deployments", d("Never"))).toBe(
      'Deployment.apps "web" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    );
    expect(await invalid("deployments", d("Sometimes"))).toBe(
      'Deployment.apps "web" is invalid: [spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never", spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always"]',
    );
    expect(await invalid("networkpolicies", np({ podSelector: {}, policyTypes: ["Sideways"] }))).toBe(
      'NetworkPolicy.networking.k8s.io "p" is invalid: spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
    );
  });
});
