"""CRUD and list through the real vnc_api client: the object types kube-manager and the CNI path use."""
import ipaddress

import pytest
from conftest import unique
from vnc_api.exceptions import BadRequest, NoIdError, RefsExistError
from vnc_api.vnc_api import (
    AddressType,
    Domain,
    FloatingIp,
    FloatingIpPool,
    GlobalSystemConfig,
    InstanceIp,
    IpamSubnets,
    IpamSubnetType,
    KeyValuePair,
    KeyValuePairs,
    Loadbalancer,
    LoadbalancerListener,
    LoadbalancerListenerType,
    LoadbalancerMember,
    LoadbalancerMemberType,
    LoadbalancerPool,
    LoadbalancerPoolType,
    LoadbalancerType,
    NetworkIpam,
    PolicyEntriesType,
    PolicyRuleType,
    PortMap,
    PortMappings,
    PortType,
    Project,
    SecurityGroup,
    SubnetType,
    VirtualMachine,
    VirtualMachineInterface,
    VirtualNetwork,
    VirtualNetworkType,
    VnSubnetsType,
)


def user_defined_vn(vnc, project, cidr="192.168.10.0/24", **kwargs):
    net = ipaddress.ip_network(cidr)
    ipam = vnc.network_ipam_read(fq_name=["default-domain", "default-project", "default-network-ipam"])
    vn = VirtualNetwork(unique("vn"), project, **kwargs)
    vn.add_network_ipam(
        ipam, VnSubnetsType([IpamSubnetType(subnet=SubnetType(str(net.network_address), net.prefixlen))])
    )
    vnc.virtual_network_create(vn)
    return vnc.virtual_network_read(id=vn.uuid)


def vmi_on(vnc, project, vn):
    vmi = VirtualMachineInterface(unique("vmi"), project)
    vmi.add_virtual_network(vn)
    vnc.virtual_machine_interface_create(vmi)
    return vnc.virtual_machine_interface_read(id=vmi.uuid)


def test_boot_objects_are_there(vnc):
    assert vnc.fq_name_to_id("domain", ["default-domain"])
    assert vnc.fq_name_to_id("project", ["default-domain", "default-project"])
    fabric = vnc.virtual_network_read(fq_name=["default-domain", "default-project", "ip-fabric"])
    assert fabric.get_is_provider_network() is True
    gsc = vnc.global_system_config_read(fq_name=GlobalSystemConfig().get_fq_name())
    assert gsc.get_autonomous_system() == 64512
    types = {t["fq_name"][-1] for t in vnc.tag_types_list()["tag-types"]}
    assert {"label", "application", "tier", "deployment", "site"} <= types


def test_project_create_read_update_list_delete(vnc):
    proj = Project(unique("proj"), Domain())
    uid = vnc.project_create(proj)
    assert proj.get_fq_name() == ["default-domain", proj.name]
    got = vnc.project_read(id=uid)
    assert got.get_fq_name() == proj.get_fq_name()
    assert got.get_display_name() == proj.name
    assert got.get_id_perms().get_uuid().get_uuid_mslong() is not None

    got.set_display_name("renamed")
    vnc.project_update(got)
    assert vnc.project_read(id=uid).get_display_name() == "renamed"

    listed = vnc.projects_list(parent_fq_name=["default-domain"])["projects"]
    (mine,) = [p for p in listed if p["uuid"] == uid]
    assert mine["fq_name"] == proj.get_fq_name()

    vnc.project_delete(id=uid)
    with pytest.raises(NoIdError):
        vnc.project_read(id=uid)


def test_new_project_gets_a_default_application_policy_set(vnc, project):
    apss = vnc.application_policy_sets_list(parent_id=project.uuid)["application-policy-sets"]
    assert [a["fq_name"][-1] for a in apss] == ["default-application-policy-set"]


def test_flat_subnet_ipam_and_vn_get_subnet_uuid_and_routing_instance(vnc, project):
    ipam = NetworkIpam(
        unique("pod-ipam"),
        project,
        ipam_subnet_method="flat-subnet",
        ipam_subnets=IpamSubnets([IpamSubnetType(subnet=SubnetType("10.32.0.0", 12))]),
    )
    # vnc_api 2005 sends every IpamSubnetType field, dhcp_relay_server included
    vnc.network_ipam_create(ipam)
    vn = VirtualNetwork(
        unique("pod-network"),
        project,
        address_allocation_mode="flat-subnet-only",
        virtual_network_properties=VirtualNetworkType(forwarding_mode="l3"),
    )
    vn.add_network_ipam(ipam, VnSubnetsType([]))
    vnc.virtual_network_create(vn)

    got = vnc.virtual_network_read(id=vn.uuid, fields=["network_ipam_refs", "routing_instances"])
    (ref,) = got.get_network_ipam_refs()
    assert ref["to"] == ipam.get_fq_name()
    ipam_subnets = ref["attr"].get_ipam_subnets()
    assert len(ipam_subnets) == 1 and ipam_subnets[0].get_subnet_uuid()
    assert [ri["to"] for ri in got.get_routing_instances()] == [vn.get_fq_name() + [vn.name]]
    assert vnc.virtual_network_read(id=vn.uuid).get_virtual_network_network_id() > 0

    # A pod address comes from the IPAM's subnet, top down: broadcast-1 is the gateway, -2 DNS.
    vmi = vmi_on(vnc, project, got)
    iip = InstanceIp(unique("iip"), subnet_uuid=ipam_subnets[0].get_subnet_uuid())
    iip.add_virtual_network(got)
    iip.add_virtual_machine_interface(vmi)
    vnc.instance_ip_create(iip)
    assert vnc.instance_ip_read(id=iip.uuid).get_instance_ip_address() == "10.47.255.252"


def test_user_defined_subnet_gets_gateway_and_dns_at_the_top(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.10.0/24")
    (ref,) = vn.get_network_ipam_refs()
    (subnet,) = ref["attr"].get_ipam_subnets()
    assert subnet.get_default_gateway() == "192.168.10.254"
    assert subnet.get_dns_server_address() == "192.168.10.253"
    assert subnet.get_subnet_uuid()


def test_vmi_and_instance_ip_allocation(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.20.0/24")
    vm = VirtualMachine(unique("vm"), server_type="container")
    vnc.virtual_machine_create(vm)
    vmi = VirtualMachineInterface(unique("vmi"), project)
    vmi.add_virtual_network(vn)
    vmi.add_virtual_machine(vm)
    vmi.set_annotations(KeyValuePairs([KeyValuePair("index", "0/1"), KeyValuePair("network", "default")]))
    vnc.virtual_machine_interface_create(vmi)
    got = vnc.virtual_machine_interface_read(id=vmi.uuid)
    (mac,) = got.get_virtual_machine_interface_mac_addresses().get_mac_address()
    assert mac.startswith("02:")
    assert [r["uuid"] for r in got.get_virtual_network_refs()] == [vn.uuid]
    assert {kv.key: kv.value for kv in got.get_annotations().get_key_value_pair()}["index"] == "0/1"

    first = InstanceIp(unique("iip"))
    first.add_virtual_network(vn)
    first.add_virtual_machine_interface(got)
    vnc.instance_ip_create(first)
    assert vnc.instance_ip_read(id=first.uuid).get_instance_ip_address() == "192.168.20.252"

    second = InstanceIp(unique("iip"))
    second.add_virtual_network(vn)
    second.add_virtual_machine_interface(got)
    vnc.instance_ip_create(second)
    assert vnc.instance_ip_read(id=second.uuid).get_instance_ip_address() == "192.168.20.251"

    taken = InstanceIp(unique("iip"), instance_ip_address="192.168.20.252")
    taken.add_virtual_network(vn)
    with pytest.raises(RefsExistError):
        vnc.instance_ip_create(taken)

    gateway = InstanceIp(unique("iip"), instance_ip_address="192.168.20.254")
    gateway.add_virtual_network(vn)
    with pytest.raises(BadRequest):
        vnc.instance_ip_create(gateway)

    # the VMI is referred to by its instance IPs: it cannot go first
    with pytest.raises(RefsExistError):
        vnc.virtual_machine_interface_delete(id=vmi.uuid)
    vnc.instance_ip_delete(id=first.uuid)
    vnc.instance_ip_delete(id=second.uuid)
    vnc.virtual_machine_interface_delete(id=vmi.uuid)
    # the address is free again
    again = InstanceIp(unique("iip"), instance_ip_address="192.168.20.252")
    again.add_virtual_network(vn)
    vnc.instance_ip_create(again)


def test_floating_ip_pool_and_floating_ip(vnc, project):
    public = user_defined_vn(vnc, project, "203.0.113.0/24")
    pool = FloatingIpPool(unique("pool"), public)
    vnc.floating_ip_pool_create(pool)
    assert vnc.floating_ip_pool_read(id=pool.uuid).get_fq_name() == public.get_fq_name() + [pool.name]

    vmi = vmi_on(vnc, project, user_defined_vn(vnc, project, "192.168.30.0/24"))
    fip = FloatingIp(unique("fip"), pool)
    fip.add_project(project)
    fip.add_virtual_machine_interface(vmi)
    fip.set_floating_ip_port_mappings(PortMappings([PortMap("TCP", 80, 8080)]))
    fip.set_floating_ip_port_mappings_enable(True)
    vnc.floating_ip_create(fip)
    got = vnc.floating_ip_read(id=fip.uuid)
    assert ipaddress.ip_address(got.get_floating_ip_address()) in ipaddress.ip_network("203.0.113.0/24")
    assert got.get_floating_ip_traffic_direction() == "both"
    assert [r["uuid"] for r in got.get_virtual_machine_interface_refs()] == [vmi.uuid]
    (pm,) = got.get_floating_ip_port_mappings().get_port_mappings()
    assert (pm.protocol, pm.src_port, pm.dst_port) == ("TCP", 80, 8080)

    # the pool cannot go while a floating IP is in it
    with pytest.raises(RefsExistError):
        vnc.floating_ip_pool_delete(id=pool.uuid)
    vnc.floating_ip_delete(id=fip.uuid)
    vnc.floating_ip_pool_delete(id=pool.uuid)


def test_security_group_rules_round_trip_and_id_is_allocated(vnc, project):
    rule = PolicyRuleType(
        direction=">",
        protocol="tcp",
        ethertype="IPv4",
        src_addresses=[AddressType(security_group="any")],
        src_ports=[PortType(0, 65535)],
        dst_addresses=[AddressType(security_group="local")],
        dst_ports=[PortType(80, 80)],
    )
    sg = SecurityGroup(unique("sg"), project, security_group_entries=PolicyEntriesType([rule]))
    vnc.security_group_create(sg)
    got = vnc.security_group_read(id=sg.uuid)
    (back,) = got.get_security_group_entries().get_policy_rule()
    assert back.get_dst_ports()[0].get_start_port() == 80
    assert back.get_src_addresses()[0].get_security_group() == "any"
    assert int(got.get_security_group_id()) >= 8000000

    vmi = VirtualMachineInterface(unique("vmi"), project)
    vmi.add_virtual_network(user_defined_vn(vnc, project, "192.168.40.0/24"))
    vmi.add_security_group(got)
    vnc.virtual_machine_interface_create(vmi)
    refs = vnc.virtual_machine_interface_read(id=vmi.uuid).get_security_group_refs()
    assert [r["uuid"] for r in refs] == [sg.uuid]


def test_loadbalancer_objects_as_kube_manager_writes_them(vnc, project):
    vn = user_defined_vn(vnc, project, "10.96.0.0/24")
    vip_vmi = vmi_on(vnc, project, vn)
    lb = Loadbalancer(
        unique("svc"),
        project,
        loadbalancer_provider="native",
        loadbalancer_properties=LoadbalancerType(vip_address="10.96.0.10", vip_subnet_id=None),
    )
    lb.add_virtual_machine_interface(vip_vmi)
    vnc.loadbalancer_create(lb)
    listener = LoadbalancerListener(
        unique("ll"), project, loadbalancer_listener_properties=LoadbalancerListenerType(protocol="TCP", protocol_port=80)
    )
    listener.add_loadbalancer(lb)
    vnc.loadbalancer_listener_create(listener)
    pool = LoadbalancerPool(
        unique("pool"),
        project,
        loadbalancer_pool_properties=LoadbalancerPoolType(protocol="TCP", loadbalancer_method="ROUND_ROBIN"),
    )
    pool.add_loadbalancer_listener(listener)
    vnc.loadbalancer_pool_create(pool)
    member = LoadbalancerMember(
        unique("member"), pool, loadbalancer_member_properties=LoadbalancerMemberType(protocol_port=8080)
    )
    member.set_annotations(KeyValuePairs([KeyValuePair("vmi", vip_vmi.uuid), KeyValuePair("vm", "x")]))
    vnc.loadbalancer_member_create(member)

    got = vnc.loadbalancer_read(id=lb.uuid)
    assert got.get_loadbalancer_provider() == "native"
    assert got.get_loadbalancer_properties().get_vip_address() == "10.96.0.10"
    assert vnc.loadbalancer_member_read(id=member.uuid).get_fq_name() == pool.get_fq_name() + [member.name]
    listeners = vnc.loadbalancer_listeners_list(back_ref_id=lb.uuid)["loadbalancer-listeners"]
    assert [x["uuid"] for x in listeners] == [listener.uuid]
    members = vnc.loadbalancer_members_list(parent_id=pool.uuid)["loadbalancer-members"]
    assert [x["uuid"] for x in members] == [member.uuid]


def test_floating_ip_under_an_instance_ip_takes_its_address(vnc, project):
    """svc-monitor's native LB driver creates the VIP floating IP as a child of the VIP instance-ip, with
    the same address; the real server skips address allocation for such floating IPs."""
    vn = user_defined_vn(vnc, project, "10.96.1.0/24")
    vip_vmi = vmi_on(vnc, project, vn)
    iip = InstanceIp(unique("vip"), instance_ip_address="10.96.1.10")
    iip.add_virtual_network(vn)
    iip.add_virtual_machine_interface(vip_vmi)
    vnc.instance_ip_create(iip)
    member = vmi_on(vnc, project, vn)
    fip = FloatingIp(unique("fip"), iip, floating_ip_address="10.96.1.10", floating_ip_traffic_direction="ingress")
    fip.add_virtual_machine_interface(member)
    vnc.floating_ip_create(fip)
    got = vnc.floating_ip_read(id=fip.uuid)
    assert got.get_fq_name() == iip.get_fq_name() + [fip.name]
    assert got.get_floating_ip_address() == "10.96.1.10"
    assert [r["uuid"] for r in got.get_virtual_machine_interface_refs()] == [member.uuid]
