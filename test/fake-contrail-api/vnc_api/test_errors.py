"""Error mapping as the real client sees it: 404 → NoIdError, 409 → RefsExistError, 400 → BadRequest."""
import pytest
from conftest import unique
from test_crud import user_defined_vn, vmi_on
from vnc_api.exceptions import BadRequest, NoIdError, RefsExistError
from vnc_api.vnc_api import Domain, NetworkPolicy, Project, VirtualMachineInterface, VirtualNetwork

MISSING = "6f1b5d4e-0000-4000-8000-0000000000ff"


def test_unknown_uuid_is_no_id_error(vnc):
    with pytest.raises(NoIdError):
        vnc.virtual_network_read(id=MISSING)
    with pytest.raises(NoIdError):
        vnc.virtual_network_delete(id=MISSING)


def test_reading_an_object_as_the_wrong_type_is_no_id_error(vnc, project):
    with pytest.raises(NoIdError):
        vnc.virtual_network_read(id=project.uuid)


def test_duplicate_fq_name_is_refs_exist_error(vnc, project):
    np = NetworkPolicy(unique("np"), project)
    vnc.network_policy_create(np)
    with pytest.raises(RefsExistError) as err:
        vnc.network_policy_create(NetworkPolicy(np.name, project))
    assert np.uuid in str(err.value)


def test_delete_with_children_or_referrers_is_refs_exist_error(vnc, project):
    vn = user_defined_vn(vnc, project, "192.168.60.0/24")
    vmi_on(vnc, project, vn)
    with pytest.raises(RefsExistError):
        vnc.project_delete(id=project.uuid)  # still has children
    with pytest.raises(RefsExistError):
        vnc.virtual_network_delete(id=vn.uuid)  # still referred to by the VMI


def test_fabric_networks_cannot_be_deleted(vnc):
    for name in ("ip-fabric", "__link_local__"):
        uid = vnc.fq_name_to_id("virtual-network", ["default-domain", "default-project", name])
        with pytest.raises(RefsExistError):
            vnc.virtual_network_delete(id=uid)


def test_missing_parent_is_bad_request(vnc):
    orphan = VirtualNetwork(unique("vn"), Project(unique("no-such-project"), Domain()))
    with pytest.raises(BadRequest):
        vnc.virtual_network_create(orphan)


def test_ref_to_unknown_object_is_bad_request(vnc, project):
    vmi = VirtualMachineInterface(unique("vmi"), project)
    vmi.add_virtual_network(VirtualNetwork("ghost", project))
    vmi.virtual_network_refs[0]["uuid"] = MISSING
    with pytest.raises(BadRequest):
        vnc.virtual_machine_interface_create(vmi)


def test_badly_typed_property_is_bad_request(vnc, project):
    vn = VirtualNetwork(unique("vn"), project)
    vn.set_mac_aging_time("five minutes")  # the schema says integer
    with pytest.raises(BadRequest):
        vnc.virtual_network_create(vn)


def test_non_canonical_client_uuid_is_bad_request(vnc, project):
    np = NetworkPolicy(unique("np"), project)
    np.uuid = "not-a-uuid"
    with pytest.raises(BadRequest):
        vnc.network_policy_create(np)
