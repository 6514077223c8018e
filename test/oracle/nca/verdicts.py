"""Connection verdicts from network-config-analyzer (NCA), for test/oracle/cross-check.test.ts.

    python verdicts.py --serve          one world per stdin line, one answer per stdout line (the test's mode)
    python verdicts.py IN.json OUT.json  a batch of worlds from a file (for looking at one by hand)
    python verdicts.py --self-check      a small world with known verdicts (setup.sh runs it)

A world: {"resources": [<Namespace|Pod|NetworkPolicy object>...],
          "queries": [{"from": "ns/pod" | {"ip": "a.b.c.d"}, "to": ..., "proto": "tcp", "port": 80}]}
An answer (--serve): {"verdicts": [true|false per query]} or {"error": "message"}.
IN.json: {"worlds": [world...]}; OUT.json: {"verdicts": [[...] | null per world], "errors": [null | "message"]}.

Each world is parsed by NCA from a YAML file of its own, exactly as `nca --connectivity --resource_list FILE`
would, and its allowed connections are computed by NCA's K8s layer (NetworkConfig.allowed_connections). A query
is allowed iff the single connection (source, destination, protocol, destination port) is contained in that
set. Nothing here decides a verdict: it only builds NCA's own connection object for the question. NCA's global
singletons (peer indices, dimension domains) are reset between worlds so worlds cannot leak into each other.
NCA prints its parse warnings on stdout; they are sent to stderr so OUT.json is the only result.
"""

import contextlib
import json
import os
import sys
import tempfile

from nca.CoreDS.ConnectivityProperties import ConnectivityProperties
from nca.CoreDS.DimensionsManager import DimensionsManager
from nca.CoreDS.Peer import BasePeerSet, IpBlock, PeerSet
from nca.CoreDS.PortSet import PortSet
from nca.CoreDS.ProtocolSet import ProtocolSet
from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
from nca.Resources.PolicyResources.NetworkPolicy import PolicyConnectionsFilter


def _endpoint(peers, spec):
    if isinstance(spec, dict):
        return IpBlock(cidr=f"{spec['ip']}/32")
    if spec not in peers:
        raise KeyError(f"NCA does not know the pod {spec} (known: {sorted(peers)})")
    return peers[spec]


def _world_verdicts(world, workdir, index):
    BasePeerSet.reset()
    DimensionsManager.reset()
    path = os.path.join(workdir, f"world-{index}.yaml")
    with open(path, "w") as f:
        f.write("\n---\n".join(json.dumps(o) for o in world["resources"]))
    config = ResourcesHandler().get_network_config(None, None, None, [path], f"world-{index}")
    conns = config.allowed_connections(res_conns_filter=PolicyConnectionsFilter.only_all_allowed_connections())
    allowed = conns.all_allowed_conns
    peers = {p.full_name(): p for p in config.peer_container.get_all_peers_group()}
    out = []
    for q in world["queries"]:
        cube = {
            "src_peers": PeerSet({_endpoint(peers, q["from"])}),
            "dst_peers": PeerSet({_endpoint(peers, q["to"])}),
            "protocols": ProtocolSet.get_protocol_set_with_single_protocol(q["proto"].upper()),
        }
        if q.get("port") is not None:
            cube["dst_ports"] = PortSet.make_port_set_with_range(q["port"], q["port"])
        out.append(ConnectivityProperties.make_conn_props_from_dict(cube).contained_in(allowed))
    return out


def run(request):
    verdicts, errors = [], []
    with tempfile.TemporaryDirectory(prefix="ctb-nca-") as workdir:
        for i, world in enumerate(request["worlds"]):
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    verdicts.append(_world_verdicts(world, workdir, i))
                errors.append(None)
            except Exception as e:  # one unparsable world must not hide the others' verdicts
                verdicts.append(None)
                errors.append(f"{type(e).__name__}: {e}")
    return {"verdicts": verdicts, "errors": errors}


def serve():
    """One process for a whole test file: NCA's start-up (about a second of imports) is paid once."""
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="ctb-nca-") as workdir:
        for i, line in enumerate(sys.stdin):
            if not line.strip():
                continue
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    answer = {"verdicts": _world_verdicts(json.loads(line), workdir, i)}
            except Exception as e:
                answer = {"error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()


def _self_check():
    def meta(name, ns=None, labels=None):
        m = {"name": name, "labels": labels or {}}
        if ns:
            m["namespace"] = ns
        return m

    def pod(ns, name, labels, ip):
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta(name, ns, labels),
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"name": "web", "containerPort": 8080}]}]},
            "status": {"podIP": ip, "phase": "Running"},
        }

    resources = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("a")},
        pod("a", "x", {"app": "x"}, "10.0.0.1"),
        pod("a", "y", {"app": "y"}, "10.0.0.2"),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("np", "a"),
            "spec": {
                "podSelector": {"matchLabels": {"app": "y"}},
                "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": "web"}]}],
            },
        },
    ]
    queries = [
        {"from": "a/x", "to": "a/y", "proto": "tcp", "port": 8080},
        {"from": "a/x", "to": "a/y", "proto": "tcp", "port": 80},
        {"from": "a/y", "to": "a/x", "proto": "udp", "port": 53},
        {"from": {"ip": "192.0.2.1"}, "to": "a/y", "proto": "tcp", "port": 8080},
    ]
    got = run({"worlds": [{"resources": resources, "queries": queries}]})
    want = {"verdicts": [[True, False, True, False]], "errors": [None]}
    if got != want:
        sys.exit(f"nca self-check failed: got {got}, want {want}")
    print("nca self-check passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        _self_check()
    elif sys.argv[1:] == ["--serve"]:
        serve()
    else:
        with open(sys.argv[1]) as f:
            request = json.load(f)
        result = run(request)
        with open(sys.argv[2], "w") as f:
            json.dump(result, f)
