/**
 * `ctb`, the testbed CLI. Verbs and flags are an interface other tools rely on (docs/cli.md):
 *   ctb run <scenario…> [--datapath sim|netns] [--cluster embedded|local|kubeconfig:<path>] [--nodes emulated|kubelet] [--junit f] [--json]
 *   ctb up <scenario> [same flags] / ctb down
 *   ctb get <kind> [name…] [-n ns|-A] [-o wide|yaml|json|name] / ctb describe <kind> <name> [-n ns]
 *   ctb exec [-it] [-n ns] <pod> -- <cmd…> / ctb trace <from> <to> [--proto] [--port] [--json]
 *   ctb contrail list <type> / ctb contrail get <type> <fq_name|uuid>
 *   ctb api | ctb controller | ctb vrouter   (one component alone)
 * `ctb <verb> --help` prints the verb's usage. Exit code 0 iff the command did what was asked (for `run`: every
 * expectation held; for `trace`: the packet was delivered), 1 when it did not, 2 for a bad command line.
 */
import { ScenarioError } from "../scenario/types";
import { CommandError, isParseArgsError, parseErrorText, UsageError } from "./flags";
import { installProcessHandlers } from "./lifecycle";
import * as session from "./session";

const USAGE = `usage: ctb <command> [options]

  run <scenario.yaml…>   run scenarios; exit 0 iff every expectation holds
      --datapath sim|netns            simulated engine (default) or real packets in network namespaces
      --cluster embedded|local|kubeconfig:<path>   Kubernetes backend (default embedded)
      --nodes emulated|kubelet        who runs the pods: the node emulator (default) or real kubelet +
                                      containerd nodes (with --cluster local --datapath netns; root)
      --json                          print a JSON report instead of text
      --junit <file>                  also write a JUnit XML report
      --pcap <dir>                    also write pcap files of the run (the fabric, each node's fabric port)
      --netpol-layout upstream|kubernetes   NetworkPolicy as the real kube-manager builds it (default) or the
                                      testbed's corrected design; --compare kubernetes reports every matrix
                                      cell where Contrail and Kubernetes NetworkPolicy semantics disagree
  up <scenario.yaml>     bring up a persistent environment running the scenario (same flags as run)
  ui [--open]            the environment's web view (configuration, topology, reachability, traces, vrouters)
  down [--all]           stop the persistent environment; remove the namespaces and processes it (or any
                         crashed testbed) left; --all also removes those of live testbeds
  status [-o json]       what is up here (environment, runs in progress) and each component's metrics URL;
                         exit 1 when nothing is up
  capture <ns>/<pod>|<node>|fabric -w <file.pcap> [--count N | --duration S]   packets of the environment
  get <kind> [name…] [-n <ns>|-A] [-o wide|yaml|json|name]   list objects as kubectl does (pods, svc, ns, no, …)
  describe <kind> <name> [-n <ns>]   show one object in detail (pod, service, node, namespace, …)
  exec [-it] [-n <ns>] <pod> -- <command…>   run a command in the pod (ping works on both datapaths)
  trace <from> <to> [--proto icmp|tcp|udp|sctp] [--port N]   explain a packet's fate hop by hop
  reach <from> <to> [--json]   every protocol and port that gets through (all packets, not one probe)
  connectivity [-n <ns>…] [-o text|json|csv|dot] [--all]   the same for every pair of pods, grouped
  diff <A> <B> [--json]  flows allowed in one and denied in the other (scenarios, file@step, manifests)
  why <from> <to> [--proto P --port N]   the smallest changes that would let a dropped flow through (or block it)
  contrail list <type> | contrail get <type> <fq_name|uuid>   read the Contrail config API
  api [--port P] [--db F]        run the fake Contrail config API alone
  controller [flags]             run the controller alone
  vrouter <node> <tool> [args…]  a vrouter's own tools on the environment: vif, nh, rt, flow, dropstats,
                                 mpls, vrfstats (ctb vrouter <node> --help)
  vrouter [flags]                run a vrouter agent alone

Run 'ctb <command> --help' for a command's options.
`;

const ENV_FLAGS = `  --datapath sim|netns     simulated engine (default) or real packets in network namespaces (root)
  --cluster embedded|local|kubeconfig:<path>
                           Kubernetes backend: in-process (default), a local control plane, or a cluster
  --nodes emulated|kubelet the node emulator runs the pods (default), or real kubelet + containerd nodes, one per
                           scenario node, whose containerd calls the CNI plugin (--cluster local --datapath netns)
  --netpol-layout upstream|kubernetes
                           override the scenario's NetworkPolicy layout: upstream = what the real
                           kube-manager builds (the default), kubernetes = the testbed's corrected design
  --compare kubernetes     with every matrix, list the cells where Contrail and Kubernetes NetworkPolicy
                           semantics disagree, each with the firewall rule that decided
  --allow-no-expectations  let a scenario that checks nothing pass (it fails by default)
`;

/** `ctb <verb> --help`. controller and vrouter print their own (their flags live with them). */
const HELP: Record<string, string> = {
  run: `usage: ctb run <scenario.yaml…> [flags]

Run scenarios, each in a fresh environment; exit 0 iff every expectation holds, 1 if one does not,
2 if the scenario file (or every file given) is invalid (nothing starts then). Of several files, one that
cannot be loaded is reported as an error of its own (in --json and --junit too) while the others run.

${ENV_FLAGS}  --json                   print a JSON report instead of text
  --junit <file>           also write a JUnit XML report
  --pcap <dir>             also write pcap files of the run: <scenario>-fabric.pcap (the underlay, each
                           frame once) and <scenario>-<node>.pcap (each node's fabric port)

Ctrl-C stops at the current step and tears the environment down (exit 130); a closed output pipe does the
same quietly (exit 141). On a terminal, stderr shows what is running and for how long.
`,
  up: `usage: ctb up <scenario.yaml> [flags]

Bring up a persistent environment running the scenario, for get/describe/exec/trace/contrail; ctb down stops it.
It serves a read-only web view of itself (ctb ui prints its URL).

${ENV_FLAGS}  --ui-listen <address>[:<port>]
                           where the web view listens (default 127.0.0.1, a free port); an address other
                           than loopback exposes the environment's configuration to that network
`,
  ui: `usage: ctb ui [--open]

Print the URL of the running environment's web view: the Contrail configuration, the topology, the
pods × pods reachability matrix, packet traces, each vrouter's tables and flows, the scenario's report.

  --open   also open it in the desktop's browser (xdg-open)
`,
  down: `usage: ctb down [--all]

Stop the persistent environment and remove the namespaces and processes it (or any crashed testbed) left.

  --all   also remove those of live testbeds (other runs, tests)
`,
  get: `usage: ctb get <kind> [name…] [flags]
       ctb get <kind>/<name>… [flags]

List objects of the environment's cluster as kubectl does. Kinds: pods (po), services (svc), namespaces (ns),
nodes (no), deployments (deploy), replicasets (rs), endpoints (ep), endpointslices, networkpolicies (netpol),
ingresses (ing), replicationcontrollers (rc), leases.

  -n, --namespace <ns>     namespace (default "default")
  -A, --all-namespaces     every namespace (adds a NAMESPACE column)
  -o, --output <format>    wide (more columns), yaml, json, name
  -l, --selector <sel>     label selector, e.g. app=web
      --no-headers         leave the header line out

Examples:
  ctb get pods -A -o wide
  ctb get svc web -o yaml
  ctb get netpol -n test-isolated-ns
`,
  describe: `usage: ctb describe <kind> [name…] [-n <ns>]

Show objects in detail: pods (node, IP, containers, conditions), services (IPs, ports, endpoints),
nodes (addresses, pods), namespaces (annotations, isolation); other kinds as their spec and status.
Without a name, every object of the kind in the namespace.

  -n, --namespace <ns>     namespace (default "default")

Example: ctb describe pod -n test-isolated-ns example3-67d6cf5cc8-4mmz6
`,
  exec: `usage: ctb exec [-it] [-n <ns>] <pod> -- <command…>
       ctb exec <ns>/<pod> -- <command…>

Run a command in the pod; exit with its exit code. The pod may be named by a prefix glob (example1-*).
On the netns datapath any program runs in the pod's network namespace; on the simulated datapath pods run
no programs: ping and nslookup are answered by sending packets through the engine (nslookup to the
cluster DNS, the kube-dns Service).

  -n, --namespace <ns>     namespace (default "default")
  -i, --stdin              pass stdin to the command (netns)
  -t, --tty                accepted for kubectl habits (the terminal is yours already)
  -c, --container <name>   accepted and ignored: a pod's containers share its network

Example: ctb exec -n default example1-* -- ping -c 2 10.47.255.251
`,
  trace: `usage: ctb trace <from> <to> [--proto icmp|tcp|udp|sctp] [--port N] [--json]

Send one packet (or connection attempt) and explain its fate hop by hop; exit 0 if it was delivered,
1 if it was dropped. Endpoints take the forms a scenario's reach step does:
  <from>  <ns>/<pod>, <ns>/<prefix>* (the first matching pod), host:<fabric host>,
          external:<external host> (behind the SDN gateway)
  <to>    the same, service:<ns>/<name> (svc:…), lb:<ns>/<name> (the Service's load-balancer
          address), ingress:<ns>/<name> (the Ingress's address: its haproxy's port), or an IPv4
          address (e.g. an externalIP)

  --proto <p>          icmp (default), tcp, udp or sctp
  --port <N>           destination port, 1-65535 (needed for tcp, udp and sctp)
  --json, -o json      print the probe result as JSON

Example: ctb trace default/example1-* service:default/web --proto tcp --port 8080
`,
  reach: `usage: ctb reach <from> <to> [--json]

Every protocol and destination port that gets through from <from> to <to>, and which of them something answers:
  gets through: tcp 80,443; udp 53; icmp
The port space is cut wherever a compute's tables (ACL and firewall rules, floating-IP port mappings,
link-local services) or a listening socket decide on a port; one packet per piece decides it (the simulated
datapath's dry run, from several source ports; on netns one real packet per piece). Ports delivered only from
some source ports (a rule's source ports, or the ECMP member a hash picks) are listed apart. Exit 0 when
something gets through, 1 when nothing does. Endpoints as for ctb trace.

  --json, -o json      the sets as text ("allows") and as port intervals

Example: ctb reach default/example1-* default/example3-*
`,
  connectivity: `usage: ctb connectivity [-n <ns>…] [-o text|json|csv|dot] [--all]

Every pair of pods of the environment (outside kube-system, or of the namespaces given): what gets through, as
ctb reach computes it, grouped by workload (pods of one namespace with the same labels) so the map stays
readable — one line per pair of groups whose pods all agree, else one per pair of pods:
  shop/[app=client] => shop/[app=web] : tcp 8080; udp 53   (Kubernetes: tcp 8080,9000-9100; udp 53)
Kubernetes' NetworkPolicy answer is shown where it differs. Lines where nothing gets through are counted, not
listed, unless --all.

  -n, --namespace <ns>   only pods of this namespace (repeatable)
  -o <format>            text (default), json (groups, edges, every pair), csv (every pair), dot (Graphviz)
  --all                  list the pairs of groups where nothing gets through too
`,
  why: `usage: ctb why <from> <to> [--proto icmp|tcp|udp|sctp] [--port N] [--json]

For a flow that is dropped, the smallest changes that would let it through; for a flow that gets through, the
smallest changes that would block it; for a flow to a Service that arrives where nothing listens, the target
port its members listen on. Endpoints as for ctb trace (pods, service:/lb:/an externalIP, host:, external:,
an address). Candidates come from what decides the path: the NetworkPolicies selecting either end (for a
Service, its members on the target port; for a host, an ipBlock with its address), a label an existing rule
would admit, a Service's missing port or a selector that matches no pod, a ClusterIP asked for from outside
or a pod asked for from outside (type LoadBalancer), the namespaces' isolation and ip_fabric_snat annotations. Each candidate is applied to a
copy of this environment (its scenario run again, simulated datapath, embedded cluster) and kept only if the
flow's fate really changes there; the kubectl command for each is printed, the rest listed as not enough on
its own. Exit 0 when a change was found, 1 when none was, 2 for endpoints that do not name anything.

  --proto <p>          icmp (default), tcp, udp or sctp
  --port <N>           destination port (a Service's port for a Service), needed for tcp, udp and sctp
  --json               the result as JSON

Example: ctb why default/client service:default/web --proto tcp --port 80
`,
  diff: `usage: ctb diff <A> <B> [--netpol-layout upstream|kubernetes] [--json]

Every class of flows allowed in one environment and denied in the other, workload by workload (pods of one
namespace with the same labels), with what decided on each side: one packet of each difference traced on both.
A side is a scenario file (run to its end), file@N (the scenario run to its N-th step: two steps of one
scenario are file@N and file@M), or a file of Kubernetes manifests (applied to two nodes, model r5). Each runs
in a testbed of its own (simulated datapath, embedded cluster). Exit 0 when nothing differs, 1 when something
does.

  --netpol-layout <l>  the NetworkPolicy layout of both sides (default: each scenario's own, else upstream)
  --json               the result as JSON

Example: ctb diff scenarios/churn.yaml@1 scenarios/churn.yaml@2
`,
  contrail: `usage: ctb contrail list <type> [-o json|yaml|name]
       ctb contrail get <type> <fq_name|uuid> [-o json|yaml]

Read objects from the Contrail config API of the environment (or --api <url>). Types as the API names them:
virtual-network, virtual-machine-interface, instance-ip, network-policy, security-group, project, …

  --api <url>          another config API (default: the environment's)
  -o, --output <fmt>   json, yaml, name (list only); --json is -o json
`,
  status: `usage: ctb status [-o json]

Show what is up here: the \`ctb up\` environment (scenario, datapath, cluster, pid, uptime) and any \`ctb run\`
in progress, each with its components' Prometheus endpoints (controller, config API, one per vrouter).
Exit 0 when something is up; 1 with "nothing is up" when nothing is.
`,
  capture: `usage: ctb capture <target> -w <file.pcap> [--count N | --duration S]

Capture packets of the \`ctb up\` environment into a pcap file (tcpdump -r, Wireshark), on either datapath.
Without --count or --duration it runs until Ctrl-C (the file is complete then too).
  <target>  <ns>/<pod> (or <ns>/<prefix>*): the pod's interface, both directions, as its vrouter sees it
            <node>: the node's fabric port (encapsulated traffic to other nodes and fabric hosts)
            fabric: the whole underlay, each frame once

  -w, --write <file>     the pcap file to write
  -c, --count <N>        stop after N packets
      --duration <S>     stop after S seconds

Example: ctb capture default/example1-* -w /tmp/e1.pcap --count 10 && tcpdump -nr /tmp/e1.pcap
`,
  api: `usage: ctb api [--port P] [--host H] [--db F] [--quiet] [--aaa-mode M --identity F]

Run the fake Contrail config API alone until interrupted.

  --port <P>                 port (default 8082; 0 = any free port)
  --host <H>                 address to listen on (default 127.0.0.1)
  --db <F>                   persist the store in this file (default: memory only)
  --quiet                    no request log
  --aaa-mode <M>             no-auth (default), cloud-admin or rbac (the API's aaa_mode)
  --identity <F>             users, passwords and role assignments keystone serves (YAML; needed unless no-auth)
  --keystone-port <P>        the keystone v3 endpoint's port (default 5000; 0 = any free port)
  --admin-port <P>           upstream's admin port: Basic auth as the admin user, no checks (default 8095)
  --cloud-admin-role <R>     role that bypasses every check (default admin)
  --global-read-only-role <R>  role that may read everything (default none)
  --token-ttl <S>            token lifetime in seconds (default 3600)
`,
};

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  // Ctrl-C, SIGTERM, SIGHUP and a closed output pipe end every verb through its registered teardowns; the
  // standalone components handle their signals themselves (they flush state on the way out)
  installProcessHandlers({ signals: !["api", "controller", "vrouter"].includes(verb ?? "") });
  try {
    if (verb && HELP[verb] && wantsHelp(rest)) {
      process.stdout.write(HELP[verb]);
      return 0;
    }
    switch (verb) {
      case "run":
        return await (await import("./run-cmd")).run(rest);
      case "ui":
        return await session.ui(rest);
      case "up":
        return await session.up(rest);
      case "down":
        return await session.down(rest);
      case "status":
        return await (await import("./observe")).status(rest);
      case "capture":
        return await (await import("./observe")).capture(rest);
      case "get":
        return await session.get(rest);
      case "describe":
        return await session.describe(rest);
      case "exec":
        return await session.exec(rest);
      case "trace":
        return await session.trace(rest);
      case "reach":
        return await session.reach(rest);
      case "connectivity":
        return await session.connectivityMap(rest);
      case "why":
        return await session.whyFlow(rest);
      case "diff":
        return await (await import("./diff-cmd")).diff(rest);
      case "contrail":
        return await session.contrail(rest);
      case "api":
        // its flag checks throw plain errors naming the flag ("--port: invalid port …"): those are usage errors
        return await (await import("../../fake-contrail-api/cli"))
          .main(rest)
          .then(() => 0)
          .catch((e: Error) => {
            throw /^--[a-z]/.test(e.message) ? new UsageError(e.message) : e;
          });
      case "controller":
        return await (await import("../../controller/cli")).main(rest).then(() => 0);
      case "vrouter":
        // `ctb vrouter <node> <tool> …` asks the environment; flags alone run agents (one component alone)
        if (rest[0] !== undefined && !rest[0].startsWith("-"))
          return await (await import("./vrouter-tools")).vrouterTool(rest);
        return await (await import("../../fake-vrouter/agent/cli")).main(rest).then(() => 0);
      case "__serve":
        return await session.serve(rest);
      case "help":
        // `ctb help <verb>` as `ctb <verb> --help`
        if (rest[0] && HELP[rest[0]]) {
          process.stdout.write(HELP[rest[0]]);
          return 0;
        }
        if (rest[0] === "controller" || rest[0] === "vrouter") return await main([rest[0], "--help"]);
        process.stdout.write(USAGE);
        return 0;
      case undefined:
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return verb === undefined ? 2 : 0;
      default:
        process.stderr.write(`ctb: unknown command "${verb}"\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    return failed(verb, e);
  }
}

/**
 * One message a user can act on, never our stack trace (CTB_DEBUG=1 adds it): exit 2 for what the user must
 * fix in the command line or in files, 1 when the command ran and failed.
 */
function failed(verb: string | undefined, e: unknown): number {
  const who = verb ? `ctb ${verb}` : "ctb";
  const err = e instanceof Error ? e : new Error(String(e));
  const say = (text: string) => process.stderr.write(`${text}\n`);
  if (err instanceof CommandError) {
    say(err.bare ? err.message : `${who}: ${err.message}`);
    return 1;
  }
  if (
    err instanceof UsageError ||
    isParseArgsError(err) ||
    ["ControllerUsageError", "VrouterCliError"].includes(err.name)
  ) {
    // the controller and vrouter append their whole usage to the message; --help shows it
    say(`${who}: ${parseErrorText({ message: err.message.split("\n")[0] })}`);
    if (!(err instanceof UsageError) || err.hint) say(`See 'ctb ${verb} --help'.`);
    return 2;
  }
  // files and configuration to fix: said in full (file:line, every missing prerequisite)
  if (
    err instanceof ScenarioError ||
    ["ConfigError", "PrerequisiteError", "IdentityError"].includes(err.name)
  ) {
    say(`${who}: ${err.message}`);
    return 2;
  }
  say(`${who}: ${err.message}`);
  if (process.env.CTB_DEBUG === "1" && err.stack) say(err.stack);
  return 1;
}

/** --help or -h among a verb's own flags (not in the command after `--` that exec runs). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}
