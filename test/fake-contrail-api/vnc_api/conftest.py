"""Fixtures for the vnc_api conformance suite: the real VNC API Python client (contrail-api-client 2005)
pointed at the fake config API given by VNC_API_URL (e.g. http://127.0.0.1:41234).

Run: VNC_API_URL=http://127.0.0.1:8082 .cache/venv/bin/python -m pytest test/fake-contrail-api/vnc_api
"""
import os
import uuid
from urllib.parse import urlparse

import pytest
from vnc_api.vnc_api import Domain, Project, VncApi


@pytest.fixture(scope="session")
def vnc():
    url = os.environ.get("VNC_API_URL")
    if not url:
        pytest.exit("VNC_API_URL is not set (e.g. http://127.0.0.1:8082)", returncode=2)
    parsed = urlparse(url)
    # noauth: the fake API has no keystone; conf_file=/dev/null keeps a machine-wide
    # /etc/contrail/vnc_api_lib.ini from changing the client's behaviour.
    return VncApi(
        api_server_host=parsed.hostname,
        api_server_port=parsed.port or 8082,
        auth_type="noauth",
        conf_file="/dev/null",
    )


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture
def project(vnc):
    """A fresh project under default-domain. Nothing is cleaned up: the wrapper runs each session against
    a server of its own, and names are unique."""
    proj = Project(unique("proj"), Domain())
    vnc.project_create(proj)
    return proj

