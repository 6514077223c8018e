"""Authentication and authorisation as the real client meets them: vnc_api with auth_type keystone and its usual
arguments (username/password/tenant_name, auth_host/auth_port/auth_protocol, auth_url /v3/auth/tokens) against
the fake API in aaa_mode rbac (VNC_API_URL + VNC_KEYSTONE_URL) and cloud-admin (VNC_API_URL_CLOUD_ADMIN +
VNC_KEYSTONE_URL_CLOUD_ADMIN). The identity is the one conformance-vnc-api.test.ts starts the servers with.

Run only through conformance-vnc-api.test.ts (the noauth suite ignores this file).
"""
import os
import time
from urllib.parse import urlparse

import pytest
import requests
from conftest import unique
from vnc_api.exceptions import PermissionDenied
from vnc_api.gen.resource_xsd import RbacPermType, RbacRuleEntriesType, RbacRuleType
from vnc_api.vnc_api import ApiAccessList, Project, VirtualNetwork, VncApi

PASSWORDS = {"admin": "contrail123", "alice": "alice-pw", "bob": "bob-pw"}


def client(api_env, ks_env, user, tenant):
    api = urlparse(os.environ[api_env])
    ks = urlparse(os.environ[ks_env])
    return VncApi(
        username=user,
        password=PASSWORDS[user],
        tenant_name=tenant,
        api_server_host=api.hostname,
        api_server_port=api.port,
        auth_host=ks.hostname,
        auth_port=ks.port,
        auth_protocol="http",
        auth_url="/v3/auth/tokens",
        auth_type="keystone",
        conf_file="/dev/null",
    )


def rbac(user, tenant):
    return client("VNC_API_URL", "VNC_KEYSTONE_URL", user, tenant)


@pytest.fixture(scope="module")
def tenants():
    """team-a and team-b as projects (made by the admin) and a global rule letting members CRUD."""
    admin = rbac("admin", "admin")
    for name in ("team-a", "team-b"):
        admin.project_create(Project(name))
    acl = admin.api_access_list_read(fq_name=["default-global-system-config", "default-api-access-list"])
    entries = acl.get_api_access_list_entries()
    entries.add_rbac_rule(
        RbacRuleType(rule_object="*", rule_field=None, rule_perms=[RbacPermType(role_name="member", role_crud="CRUD")])
    )
    acl.set_api_access_list_entries(entries)
    admin.api_access_list_update(acl)
    return admin


def test_keystone_login_owner_and_tenant_isolation(tenants):
    alice = rbac("alice", "team-a")
    bob = rbac("bob", "team-b")
    proj_a = alice.project_read(fq_name=["default-domain", "team-a"])
    vn = VirtualNetwork(unique("red"), proj_a)
    alice.virtual_network_create(vn)
    got = alice.virtual_network_read(id=vn.uuid)
    # the real API makes the creating tenant's project the owner
    assert got.get_perms2().owner == proj_a.uuid.replace("-", "")

    with pytest.raises(PermissionDenied) as err:
        bob.virtual_network_read(id=vn.uuid)
    assert "doesn't have read permission" in str(err.value)
    listed = [x["uuid"] for x in bob.virtual_networks_list()["virtual-networks"]]
    assert vn.uuid not in listed
    got.set_display_name("hijacked")
    with pytest.raises(PermissionDenied):
        bob.virtual_network_update(got)
    with pytest.raises(PermissionDenied):
        bob.virtual_network_delete(id=vn.uuid)
    with pytest.raises(PermissionDenied):
        bob.chown(vn.uuid, bob.fq_name_to_id("project", ["default-domain", "team-b"]))
    # obj-perms: the truth for each caller
    assert bob.obj_perms(bob.get_auth_token(), vn.uuid)["permissions"] == ""
    mine = alice.obj_perms(alice.get_auth_token(), vn.uuid)
    assert mine["permissions"] == "RWX"
    assert mine["is_cloud_admin_role"] is False
    assert tenants.obj_perms(tenants.get_auth_token(), vn.uuid)["is_cloud_admin_role"] is True

    # sharing read with team-b lets bob read, still not write
    alice.chmod(vn.uuid, share=[("tenant:" + bob.fq_name_to_id("project", ["default-domain", "team-b"]), 4)])
    assert bob.virtual_network_read(id=vn.uuid).uuid == vn.uuid
    with pytest.raises(PermissionDenied):
        bob.virtual_network_update(got)
    alice.virtual_network_delete(id=vn.uuid)


def test_project_level_rule_denies_a_role_with_vnc_rbac_text(tenants):
    # a project-level api-access-list giving members only read on virtual networks in team-b...
    proj_b = tenants.project_read(fq_name=["default-domain", "team-b"])
    rules = RbacRuleEntriesType(
        rbac_rule=[
            RbacRuleType(
                rule_object="virtual-network",
                rule_field=None,
                rule_perms=[RbacPermType(role_name="member", role_crud="R")],
            )
        ]
    )
    acl = ApiAccessList("default-api-access-list", parent_obj=proj_b, api_access_list_entries=rules)
    tenants.api_access_list_create(acl)
    try:
        bob = rbac("bob", "team-b")
        # ...is merged with the global member CRUD on '*': the object rule decides virtual-network, and it
        # says R only — so a create is refused with vnc_rbac's words
        with pytest.raises(PermissionDenied) as err:
            bob.virtual_network_create(VirtualNetwork(unique("blue"), proj_b))
        assert "Permission Denied for bob as ['member'] to C virtual-network in team-b" in str(err.value)
        bob.virtual_networks_list()
    finally:
        tenants.api_access_list_delete(id=acl.uuid)


def test_expired_token_is_renewed_once_by_the_client(tenants):
    alice = rbac("alice", "team-a")
    first = alice.get_auth_token()
    alice.projects_list()
    # the token ends (revoked at keystone, as an expiry would): the API answers 401, vnc_api fetches a new token
    ks = os.environ["VNC_KEYSTONE_URL"]
    admin_token = tenants.get_auth_token()
    r = requests.delete(ks + "/v3/auth/tokens", headers={"X-Auth-Token": admin_token, "X-Subject-Token": first})
    assert r.status_code == 204
    r = requests.get(ks + "/v3/auth/tokens", headers={"X-Auth-Token": admin_token, "X-Subject-Token": first})
    assert r.status_code == 404
    proj = alice.project_read(fq_name=["default-domain", "team-a"])
    assert proj.name == "team-a"
    assert alice._auth_token != first


def test_token_that_expires_is_renewed_by_the_client():
    # VNC_API_URL_SHORT_TOKENS: the same API with tokens that live 1 s ([token] expiration = 1)
    admin = client("VNC_API_URL_SHORT_TOKENS", "VNC_KEYSTONE_URL_SHORT_TOKENS", "admin", "admin")
    admin.projects_list()
    first = admin._auth_token
    time.sleep(1.3)
    # the token has expired: the API answers 401, the client logs in again and the call succeeds
    assert admin.projects_list()["projects"]
    assert admin._auth_token != first


def test_aaa_mode_is_reported(tenants):
    assert tenants.get_aaa_mode() == {"aaa-mode": "rbac"}


def test_wrong_password_fails_authentication(tenants):
    bad = rbac("alice", "team-a")
    bad._authn_body = bad._authn_body.replace(PASSWORDS["alice"], "wrong")
    bad._headers.pop("X-AUTH-TOKEN", None)
    with pytest.raises(RuntimeError, match="Authentication Failure"):
        bad.projects_list()


def test_cloud_admin_mode_lets_only_admin_in():
    admin = client("VNC_API_URL_CLOUD_ADMIN", "VNC_KEYSTONE_URL_CLOUD_ADMIN", "admin", "admin")
    admin.project_create(Project("team-a"))
    assert any(p["fq_name"][-1] == "team-a" for p in admin.projects_list()["projects"])
    alice = client("VNC_API_URL_CLOUD_ADMIN", "VNC_KEYSTONE_URL_CLOUD_ADMIN", "alice", "team-a")
    with pytest.raises(PermissionDenied) as err:
        alice.projects_list()
    assert "403 Permission Denied" in str(err.value)
