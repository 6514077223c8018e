"""Action endpoints and list scopes through the real vnc_api client: ref-update, fqname-to-id /
id-to-fqname, set-tag, firewall objects, useragent-kv, list scopes and list-bulk-collection."""
import pytest
from conftest import unique
from test_crud import user_defined_vn, vmi_on
from vnc_api.exceptions import BadRequest, NoIdError
from vnc_api.vnc_api import (
    ActionListType,
    ApplicationPolicySet,
    FirewallPolicy,
    FirewallRule,
    FirewallRuleEndpointType,
    FirewallSequence,
    FirewallServiceType,
    FloatingIpPool,
    KeyValuePair,
    NetworkPolicy,
    PolicyManagement,
    PortType,
    SequenceType,
    Tag,
    VirtualNetwork,
    VirtualNetworkPolicyType,
)


def test_ref_update_add_replace_attr_and_delete(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.50.0/24")
    np = NetworkPolicy(unique("np"), project)
    vnc.network_policy_create(np)

    vnc.ref_update("virtual-network", vn.uuid, "network-policy", np.uuid, None, "ADD",
                   VirtualNetworkPolicyType(sequence=SequenceType(0, 0)))
    (ref,) = vnc.virtual_network_read(id=vn.uuid).get_network_policy_refs()
    assert ref["uuid"] == np.uuid and ref["to"] == np.get_fq_name()
    assert (ref["attr"].sequence.major, ref["attr"].sequence.minor) == (0, 0)

    # ADD on an existing ref replaces its attr; the ref may be named by fq_name only
    vnc.ref_update("virtual-network", vn.uuid, "network_policy_refs", None, np.get_fq_name(), "ADD",
                   VirtualNetworkPolicyType(sequence=SequenceType(1, 2)))
    (ref,) = vnc.virtual_network_read(id=vn.uuid).get_network_policy_refs()
    assert (ref["attr"].sequence.major, ref["attr"].sequence.minor) == (1, 2)

    # the client turns ref changes of an update into ref-update calls
    got = vnc.virtual_network_read(id=vn.uuid)
    got.del_network_policy(np)
    vnc.virtual_network_update(got)
    assert not vnc.virtual_network_read(id=vn.uuid).get_network_policy_refs()

    with pytest.raises(BadRequest):
        vnc.ref_update("virtual-network", vn.uuid, "network-policy", np.uuid, None, "SWAP")
    with pytest.raises(NoIdError):
        vnc.ref_update("virtual-network", vn.uuid, "network-policy", "6f1b5d4e-0000-4000-8000-000000000000",
                       None, "ADD")


def test_ref_relax_for_delete_lets_the_target_go(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.51.0/24")
    np = NetworkPolicy(unique("np"), project)
    vnc.network_policy_create(np)
    vnc.ref_update("virtual-network", vn.uuid, "network-policy", np.uuid, None, "ADD",
                   VirtualNetworkPolicyType(sequence=SequenceType(0, 0)))
    assert vnc.ref_relax_for_delete(vn.uuid, np.uuid) == vn.uuid
    vnc.network_policy_delete(id=np.uuid)
    with pytest.raises(NoIdError):
        vnc.network_policy_read(id=np.uuid)


def test_fq_name_to_id_and_back(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.52.0/24")
    assert vnc.fq_name_to_id("virtual-network", vn.get_fq_name()) == vn.uuid
    assert vnc.id_to_fq_name(vn.uuid) == vn.get_fq_name()
    assert vnc.id_to_fq_name_type(vn.uuid) == (vn.get_fq_name(), "virtual-network")
    # reading by fq_name goes through fqname-to-id
    assert vnc.virtual_network_read(fq_name=vn.get_fq_name()).uuid == vn.uuid
    with pytest.raises(NoIdError):
        vnc.fq_name_to_id("virtual-network", project.get_fq_name() + ["no-such-vn"])
    with pytest.raises(NoIdError):
        vnc.id_to_fq_name("6f1b5d4e-0000-4000-8000-000000000001")


def test_set_tag_and_unset_tag(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.53.0/24")
    # set-tag only associates existing tags (project-scoped unless is_global)
    with pytest.raises(NoIdError):
        vnc.set_tag(vn, "application", "k8s")
    vnc.tag_create(Tag(tag_type_name="application", tag_value="k8s", parent_obj=project))
    ns = unique("ns")
    vnc.tag_create(Tag(tag_type_name="namespace", tag_value=ns))

    vnc.set_tag(vn, "application", "k8s")
    (ref,) = vnc.virtual_network_read(id=vn.uuid).get_tag_refs()
    assert ref["to"] == project.get_fq_name() + ["application=k8s"]
    tag = vnc.tag_read(id=ref["uuid"])
    assert (tag.get_tag_type_name(), tag.get_tag_value()) == ("application", "k8s")
    assert tag.get_tag_id().startswith("0x0001")

    vnc.set_tag(vn, "namespace", ns, is_global=True)
    refs = vnc.virtual_network_read(id=vn.uuid).get_tag_refs()
    assert sorted(r["to"] for r in refs) == [project.get_fq_name() + ["application=k8s"], ["namespace=" + ns]]

    vnc.unset_tag(vn, "application")
    assert [r["to"] for r in vnc.virtual_network_read(id=vn.uuid).get_tag_refs()] == [["namespace=" + ns]]


def test_tag_name_is_type_equals_value(vnc, project):
    tag = Tag(tag_type_name="tier", tag_value="web", parent_obj=project)
    vnc.tag_create(tag)
    got = vnc.tag_read(id=tag.uuid)
    assert got.get_fq_name() == project.get_fq_name() + ["tier=web"]
    assert got.get_tag_id().startswith("0x0002")


def test_firewall_rule_policy_and_application_policy_set(vnc, project):
    pm = vnc.policy_management_read(fq_name=PolicyManagement().get_fq_name())
    app = Tag(tag_type_name="application", tag_value=unique("app"), parent_obj=project)
    vnc.tag_create(app)
    app_fq = ":".join(vnc.tag_read(id=app.uuid).get_fq_name())

    rule = FirewallRule(
        unique("rule"),
        pm,
        action_list=ActionListType(simple_action="pass"),
        service=FirewallServiceType(protocol="tcp", dst_ports=PortType(80, 80), src_ports=PortType(0, 65535)),
        endpoint_1=FirewallRuleEndpointType(any=True),
        endpoint_2=FirewallRuleEndpointType(tags=[app_fq]),
        direction=">",
    )
    vnc.firewall_rule_create(rule)
    got_rule = vnc.firewall_rule_read(id=rule.uuid)
    assert got_rule.get_endpoint_2().get_tags() == [app_fq]
    assert got_rule.get_service().get_dst_ports().get_start_port() == 80

    policy = FirewallPolicy(unique("fwp"), pm)
    policy.add_firewall_rule(got_rule, FirewallSequence(sequence="00001.0"))
    vnc.firewall_policy_create(policy)
    (ref,) = vnc.firewall_policy_read(id=policy.uuid).get_firewall_rule_refs()
    assert ref["uuid"] == rule.uuid and ref["attr"].get_sequence() == "00001.0"

    aps = ApplicationPolicySet(unique("aps"), pm)
    aps.add_firewall_policy(policy, FirewallSequence(sequence="1.0"))
    aps.add_tag(vnc.tag_read(id=app.uuid))
    vnc.application_policy_set_create(aps)
    got_aps = vnc.application_policy_set_read(id=aps.uuid)
    assert [r["uuid"] for r in got_aps.get_firewall_policy_refs()] == [policy.uuid]
    assert [r["uuid"] for r in got_aps.get_tag_refs()] == [app.uuid]



def test_global_application_policy_set_exists_from_boot(vnc):
    pm_uuid = vnc.fq_name_to_id("policy-management", ["default-policy-management"])
    names = [a["fq_name"][-1] for a in vnc.application_policy_sets_list(parent_id=pm_uuid)["application-policy-sets"]]
    assert "global-application-policy-set" in names
    aps = vnc.application_policy_set_read(fq_name=["default-policy-management", "global-application-policy-set"])
    assert aps.get_all_applications() is True


def test_useragent_kv_store(vnc):
    key = unique("kv")
    vnc.kv_store(key, "value-1")
    assert vnc.kv_retrieve(key) == "value-1"
    vnc.kv_delete(key)
    with pytest.raises(NoIdError):
        vnc.kv_retrieve(key)


def test_list_scopes_detail_count_fields_and_bulk(vnc, project):
    vns = [user_defined_vn(vnc, project, "10.%d.0.0/24" % (100 + i)) for i in range(3)]
    uuids = sorted(v.uuid for v in vns)

    listed = vnc.virtual_networks_list(parent_id=project.uuid)["virtual-networks"]
    assert sorted(v["uuid"] for v in listed) == uuids
    assert sorted(v["uuid"] for v in vnc.virtual_networks_list(parent_fq_name=project.get_fq_name())["virtual-networks"]) == uuids
    assert vnc.virtual_networks_list(parent_id=project.uuid, count=True) == {"virtual-networks": {"count": 3}}

    detailed = vnc.virtual_networks_list(parent_id=project.uuid, detail=True)
    assert sorted(v.uuid for v in detailed) == uuids
    assert all(isinstance(v, VirtualNetwork) and v.get_network_ipam_refs() for v in detailed)

    one = vnc.virtual_networks_list(obj_uuids=[vns[0].uuid], fields=["display_name"])["virtual-networks"]
    assert [(v["uuid"], v["display_name"]) for v in one] == [(vns[0].uuid, vns[0].name)]

    by_fq = vnc.virtual_networks_list(fq_names=[vns[1].get_fq_name()])["virtual-networks"]
    assert [v["uuid"] for v in by_fq] == [vns[1].uuid]

    filtered = vnc.virtual_networks_list(parent_id=project.uuid, filters={"display_name": vns[2].name})
    assert [v["uuid"] for v in filtered["virtual-networks"]] == [vns[2].uuid]

    vmi = vmi_on(vnc, project, vns[0])
    back = vnc.virtual_machine_interfaces_list(back_ref_id=vns[0].uuid)["virtual-machine-interfaces"]
    assert [v["uuid"] for v in back] == [vmi.uuid]

    # more than 25 ids: the client switches to POST /list-bulk-collection
    many = uuids + ["6f1b5d4e-0000-4000-8000-%012d" % i for i in range(30)]
    bulk = vnc.virtual_networks_list(obj_uuids=many)["virtual-networks"]
    assert sorted(v["uuid"] for v in bulk) == uuids


def test_children_and_back_refs_as_the_client_reads_them(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.54.0/24")
    vmi = vmi_on(vnc, project, vn)
    pool = FloatingIpPool(unique("pool"), vn)
    vnc.floating_ip_pool_create(pool)

    got = vnc.virtual_network_read(
        id=vn.uuid, fields=["virtual_machine_interface_back_refs", "floating_ip_pools", "routing_instances"]
    )
    assert [r["uuid"] for r in got.get_virtual_machine_interface_back_refs()] == [vmi.uuid]
    assert [c["uuid"] for c in got.get_floating_ip_pools()] == [pool.uuid]
    # a plain read leaves relations out; the client's getter then fetches them from the server
    plain = vnc.virtual_network_read(id=vn.uuid)
    assert [r["uuid"] for r in plain.get_virtual_machine_interface_back_refs()] == [vmi.uuid]
    listed = vnc.virtual_networks_list(obj_uuids=[vn.uuid], detail=True, fields=["virtual_machine_interface_back_refs"])
    assert [r["uuid"] for r in listed[0].get_virtual_machine_interface_back_refs()] == [vmi.uuid]


def test_map_property_collection_update_and_get(vnc, project):
    vmi = vmi_on(vnc, project, user_defined_vn(vnc, project, "192.168.55.0/24"))
    vnc.prop_map_set_element(vmi.uuid, "virtual_machine_interface_bindings", KeyValuePair("host_id", "node-1"))
    vnc.prop_map_set_element(vmi.uuid, "virtual_machine_interface_bindings", KeyValuePair("vnic_type", "normal"))
    bindings = vnc.virtual_machine_interface_read(id=vmi.uuid).get_virtual_machine_interface_bindings()
    assert {kv.key: kv.value for kv in bindings.get_key_value_pair()} == {"host_id": "node-1", "vnic_type": "normal"}
    # prop-collection-get answers [element, position] pairs; a map's position is the element's key
    got = vnc.prop_map_get(vmi.uuid, "virtual_machine_interface_bindings", position="host_id")
    assert got == [[{"key": "host_id", "value": "node-1"}, "host_id"]]
    vnc.prop_map_delete_element(vmi.uuid, "virtual_machine_interface_bindings", "vnic_type")
    bindings = vnc.virtual_machine_interface_read(id=vmi.uuid).get_virtual_machine_interface_bindings()
    assert [kv.key for kv in bindings.get_key_value_pair()] == ["host_id"]
