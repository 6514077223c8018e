/**
 * contrail-kubernetes.conf parsing: upstream defaults per model, the keys of [KUBERNETES], [VNC] and
 * [DEFAULTS], Python-literal dict values, flag overrides, and errors that name the offending key.
 */
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  configWarnings,
  defaultConfig,
  parseConfig,
  withOptions,
} from "../../controller/config";

describe("config", () => {
  it("defaults to the upstream unit-test subnets, cluster k8s, r5 with ip-fabric forwarding", () => {
    const c = parseConfig("");
    expect(c).toMatchObject({
      model: "r5",
      clusterName: "k8s",
      domain: "default-domain",
      podSubnets: ["10.32.0.0/12"],
      serviceSubnets: ["10.96.0.0/12"],
      ipFabricSubnets: ["10.64.0.0/12"],
      ipFabricForwarding: true,
      ipFabricSnat: false,
      kubeTimerInterval: 120,
    });
    expect(defaultConfig("r4").ipFabricForwarding).toBe(false);
    expect(parseConfig("", { model: "r4" }).ipFabricForwarding).toBe(false);
  });

  it("netpol_layout: upstream (what the model's kube-manager builds) by default for both models, kubernetes on request", () => {
    expect(parseConfig("").netpolLayout).toBe("upstream");
    expect(parseConfig("", { model: "r4" }).netpolLayout).toBe("upstream");
    expect(parseConfig("[DEFAULTS]\nmodel = r4\nnetpol_layout = kubernetes\n").netpolLayout).toBe(
      "kubernetes",
    );
    expect(parseConfig("", { model: "r4", netpolLayout: "kubernetes" }).netpolLayout).toBe("kubernetes");
    expect(() => parseConfig("[DEFAULTS]\nnetpol_layout = r4\n")).toThrow(ConfigError);
  });

  it("link-local options: upstream defaults; api_service_link_local is on only for the string True", () => {
    expect(parseConfig("")).toMatchObject({
      kubernetesApiServer: "localhost",
      kubernetesApiSecurePort: 8443,
      kubernetesServiceName: "kubernetes",
      apiServiceLinkLocal: true,
    });
    const c = parseConfig(
      "[KUBERNETES]\nkubernetes_api_server = 10.1.0.100\nkubernetes_api_secure_port = 6443\nkubernetes_service_name = api\n",
    );
    expect(c).toMatchObject({
      kubernetesApiServer: "10.1.0.100",
      kubernetesApiSecurePort: 6443,
      kubernetesServiceName: "api",
    });
    expect(parseConfig("[DEFAULTS]\napi_service_link_local = True\n").apiServiceLinkLocal).toBe(true);
    expect(parseConfig("[DEFAULTS]\napi_service_link_local = true\n").apiServiceLinkLocal).toBe(false);
    expect(parseConfig("[DEFAULTS]\napi_service_link_local = False\n").apiServiceLinkLocal).toBe(false);
    expect(() => parseConfig("[KUBERNETES]\nkubernetes_api_secure_port = https\n")).toThrow(ConfigError);
  });

  it("cluster_pod_network / cluster_service_network: only the name counts", () => {
    const c = parseConfig(
      "[KUBERNETES]\ncluster_pod_network = {'domain': 'd', 'project': 'p', 'name': 'pods'}\ncluster_service_network = {'name': 'svcs'}\n",
    );
    expect(c).toMatchObject({ clusterPodNetwork: "pods", clusterServiceNetwork: "svcs" });
    expect(() => parseConfig("[KUBERNETES]\ncluster_pod_network = {'domain': 'd'}\n")).toThrow(ConfigError);
  });

  it("reads the sections of contrail-kubernetes.conf", () => {
    const c = parseConfig(`
# comment
[DEFAULTS]
kube_timer_interval = 30
model = r4

[KUBERNETES]
cluster_name = prod
pod_subnets = 10.32.0.5/12 10.200.0.0/16
service_subnets = ['10.96.0.0/12']
ip_fabric_subnets = 10.64.0.0/12
ip_fabric_snat = True
cluster_project = {'domain': 'default-domain', 'project': 'ops'}

[VNC]
vnc_endpoint_ip = 10.0.0.9
vnc_endpoint_port = 9082
public_fip_pool = {'domain': 'default-domain', 'project': 'admin', 'network': 'public', 'name': 'pool'}
`);
    expect(c).toMatchObject({
      model: "r4",
      clusterName: "prod",
      podSubnets: ["10.32.0.0/12", "10.200.0.0/16"],
      serviceSubnets: ["10.96.0.0/12"],
      ipFabricSnat: true,
      clusterProject: "ops",
      kubeTimerInterval: 30,
      vncEndpoint: { ip: "10.0.0.9", port: 9082 },
      publicFipPool: { domain: "default-domain", project: "admin", network: "public", name: "pool" },
    });
  });

  it("lets flags override the file", () => {
    const c = parseConfig("[KUBERNETES]\ncluster_name = a\n", { clusterName: "b", model: "r4" });
    expect(c.clusterName).toBe("b");
    expect(c.model).toBe("r4");
  });

  const bad: [string, string][] = [
    ["[KUBERNETES]\npod_subnets = 10.32.0.0/33\n", '[KUBERNETES] pod_subnets: "10.32.0.0/33" is not a CIDR'],
    ["[KUBERNETES]\nip_fabric_snat = perhaps\n", '[KUBERNETES] ip_fabric_snat: "perhaps" is not a boolean'],
    [
      "[DEFAULTS]\nkube_timer_interval = soon\n",
      '[DEFAULTS] kube_timer_interval: "soon" is not a whole number',
    ],
    ["[DEFAULTS]\nkube_timer_interval = -5\n", '[DEFAULTS] kube_timer_interval: "-5" is not a whole number'],
    ["[VNC]\npublic_fip_pool = {'domain': 'd'}\n", '[VNC] public_fip_pool: missing "project"'],
    ["[KUBERNETES]\ncluster_network = {oops\n", "[KUBERNETES] cluster_network: "],
    ["pod_subnets = 1.2.3.0/24\n", 'line 1: key "pod_subnets" outside a [SECTION]'],
    ["[DEFAULTS]\nmodel = r9\n", 'model: "r9" is not r4 or r5'],
    ["[DEFAULTS]\nmodel = r4\n[KUBERNETES]\nip_fabric_forwarding = true\n", "the r4 model is overlay only"],
  ];
  for (const [text, msg] of bad) {
    it(`rejects: ${msg}`, () => {
      expect(() => parseConfig(text)).toThrow(ConfigError);
      expect(() => parseConfig(text)).toThrow(msg);
    });
  }

  it("kubernetes_cluster_owner, secure_project (only the string True, as upstream compares it)", () => {
    const c = parseConfig(
      "[KUBERNETES]\nkubernetes_cluster_owner = k8s-test\n[DEFAULTS]\nsecure_project = True\n",
    );
    expect(c.clusterOwner).toBe("k8s-test");
    expect(c.secureProject).toBe(true);
    expect(parseConfig("[DEFAULTS]\nsecure_project = true\n").secureProject).toBe(false);
    expect(parseConfig("").clusterOwner).toBe("k8s");
  });

  it("refuses the options whose objects the testbed does not build, saying why; nested_mode is 0 or 1", () => {
    expect(parseConfig("[DEFAULTS]\nnested_mode = 1\n").nestedMode).toBe(true);
    expect(() => parseConfig("[DEFAULTS]\nnested_mode = yes\n")).toThrow(/nested_mode: "yes" is not 0 or 1/);
    expect(parseConfig("[DEFAULTS]\nnested_mode = 0\nglobal_tags = 1\n").model).toBe("r5");
    expect(() => parseConfig("[DEFAULTS]\nglobal_tags = 0\n")).toThrow(/global_tags: "0" is not supported/);
    expect(() => parseConfig("[KUBERNETES]\nhost_network_service = True\n")).toThrow(
      /host_network_service: true is not supported yet/,
    );
  });

  it("options by upstream name go to their section and win over the file (ctb controller --set)", () => {
    const text = withOptions("[KUBERNETES]\ncluster_name = a\nkubernetes_cluster_domain = d1\n", {
      cluster_name: "cluster",
      cluster_project: "{'project': 'p'}",
      secure_project: "True",
    });
    expect(parseConfig(text)).toMatchObject({
      clusterName: "cluster",
      domain: "d1",
      clusterProject: "p",
      secureProject: true,
    });
    expect(() => withOptions("", { no_such_option: "1" })).toThrow(ConfigError);
  });
});

describe("which value kube-manager reads (args.py's merge of its section dicts)", () => {
  it("reads a key in any section unless a dict merged later has it", () => {
    // [KUBERNETES] is merged after DEFAULTS, which alone has secure_project: read
    expect(parseConfig("[KUBERNETES]\nsecure_project = True\n").secureProject).toBe(true);
    // [DEFAULTS] is merged first; KUBERNETES's built-in default pod_subnets (None) wins: not read
    expect(parseConfig("[DEFAULTS]\npod_subnets = 10.99.0.0/16\n").podSubnets).toEqual(["10.32.0.0/12"]);
    // [AUTH] is merged last: it wins over [KUBERNETES]
    expect(parseConfig("[KUBERNETES]\ncluster_name = a\n[AUTH]\ncluster_name = b\n").clusterName).toBe("b");
    // keys are case-insensitive (configparser lower-cases them)
    expect(parseConfig("[KUBERNETES]\nCluster_Name = big\n").clusterName).toBe("big");
  });

  it("copies configparser's [DEFAULT] into the sections present", () => {
    expect(parseConfig("[DEFAULT]\ncluster_name = x\n[KUBERNETES]\n").clusterName).toBe("x");
    expect(parseConfig("[DEFAULT]\ncluster_name = x\n[KUBERNETES]\ncluster_name = y\n").clusterName).toBe(
      "y",
    );
    expect(parseConfig("[DEFAULT]\nkube_timer_interval = 30\n").kubeTimerInterval).toBe(120);
  });

  it("names the section a refused value was read from", () => {
    expect(() => parseConfig("[KUBERNETES]\nkube_timer_interval = soon\n")).toThrow(
      '[KUBERNETES] kube_timer_interval: "soon" is not a whole number',
    );
  });

  it("--set options win over the file wherever the file wrote the key", () => {
    const c = parseConfig("[KUBERNETES]\nsecure_project = True\n", {}, { secure_project: "False" });
    expect(c.secureProject).toBe(false);
    expect(() => parseConfig("", {}, { no_such_option: "1" })).toThrow(ConfigError);
  });

  it("warns, at the line, about what kube-manager would not read", () => {
    const text = [
      "[DEFAULTS]",
      "pod_subnets = 10.99.0.0/16",
      "log_level = SYS_INFO",
      "[KUBERNETES]",
      "secure_projcet = True",
      "[OTHER]",
      "x = 1",
    ].join("\n");
    const w = configWarnings(text);
    expect(w.map((x) => x.line)).toEqual([2, 3, 5, 7]);
    expect(w[0].message).toMatch(
      /\[DEFAULTS\] pod_subnets is not read: kube-manager takes pod_subnets from \[KUBERNETES\]/,
    );
    expect(w[1].message).toMatch(/not modelled by the testbed.*log_level/);
    expect(w[2].message).toMatch(
      /secure_projcet is not a kube-manager option.*did you mean secure_project\?/,
    );
    expect(w[3].message).toMatch(/\[OTHER\] x is not read/);
    expect(configWarnings("[KUBERNETES]\ncluster_name = a\n[DEFAULTS]\nsecure_project = True\n")).toEqual([]);
    expect(configWarnings("[DEFAULT]\ncluster_name = x\n")[0].message).toMatch(/own section is \[DEFAULTS\]/);
  });
});
