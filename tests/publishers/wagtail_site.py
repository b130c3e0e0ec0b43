"""A real Wagtail 8 site with brandflow-wagtail, built and served on 127.0.0.1: shared by ``test_wagtail.py``
(the ``wagtail_site`` fixture) and ``bench/publish_throughput.py``.

:func:`build_site` does what a site owner does: ``wagtail start``, add ``wagtail_write_api`` and
``brandflow_wagtail`` (``integrations/wagtail``, put on the site's ``PYTHONPATH`` as ``pip install`` would) to
the settings and URLs, ``migrate``, create a user and an API token, then serve the site with ``runserver`` on
127.0.0.1 (DEBUG, so media files are served too). A setup script adds collections and a second user whose
group may add images to one collection only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

USER = "brandflow"
INTEGRATION = Path(__file__).resolve().parents[2] / "integrations" / "wagtail"
#: The site's interpreter: this one, or another venv's to test other Wagtail versions (e.g. 6.3, the floor).
SITE_PYTHON = os.environ.get("BRANDFLOW_TEST_WAGTAIL_PYTHON") or sys.executable

# The minimal, visible patch a site owner makes to a fresh `wagtail start` project.
SETTINGS_PATCH = '''from .base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "wagtail_write_api", "brandflow_wagtail"]
'''
URLS_ANCHOR = '    path("search/", search_views.search, name="search"),\n'
URLS_PATCH = (
    '    path("api/brandflow/v1/", include("brandflow_wagtail.urls")),\n'
    '    path("api/write/v1/", include("wagtail_write_api.urls")),  # not needed by brandflow; the tests count all images with it\n'
)
# What an administrator clicks together in Settings → Collections / Groups: Campaigns, Campaigns/Spring,
# Archive, Archive/Spring; a group that may add images to Campaigns (and below) only, with one user.
SETUP = '''
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from wagtail.models import Collection, GroupCollectionPermission
from wagtail_write_api.models import ApiToken
root = Collection.get_first_root_node()
campaigns = root.add_child(name="Campaigns")
campaigns.add_child(name="Spring")
archive = Collection.get_first_root_node().add_child(name="Archive")
archive.add_child(name="Spring")
group = Group.objects.create(name="Campaign publishers")
add = Permission.objects.get(content_type__app_label="wagtailimages", codename="add_image")
GroupCollectionPermission.objects.create(group=group, collection=campaigns, permission=add)
user = get_user_model().objects.create_user("limited", password=None)
user.groups.add(group)
print("LIMITED", ApiToken.objects.create(user=user).key)
'''


@dataclass(frozen=True)
class Site:
    origin: str          # http://127.0.0.1:PORT
    api: str             # http://127.0.0.1:PORT/api/brandflow/v1/
    token: str           # a superuser's
    limited_token: str   # may add images to "Campaigns" only
    root: Path
    env: dict[str, str]

    @property
    def target(self) -> str:
        return "wagtail+" + self.api

    def get(self, path: str, token: str | None = None, **params) -> httpx.Response:
        return httpx.get(self.api + path, params=params, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=30)

    def image(self, cms_id: str) -> dict:
        """One image as brandflow-wagtail describes it (read from the database)."""
        response = self.get(f"images/{cms_id}/")
        assert response.status_code == 200, response.text
        return response.json()

    def total(self) -> int:
        """Every image in the library (wagtail-write-api's listing counts all, brandflow's or not)."""
        response = httpx.get(self.origin + "/api/write/v1/images/", params={"limit": 1},
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        return response.json()["meta"]["total_count"]

    def shell(self, code: str) -> str:
        """``python manage.py shell -c code`` in the site: reads the database through Wagtail's own models."""
        return _manage(self.root, "shell", "-c", code, env=self.env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([SITE_PYTHON, "manage.py", *args], cwd=root, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"manage.py {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@contextmanager
def build_site(base: Path) -> Iterator[Site]:
    """Build a real Wagtail site with brandflow-wagtail in the empty folder ``base`` and serve it with ``runserver``
    on 127.0.0.1 until the block ends (≈ 25 s to build). Used by the tests' ``wagtail_site`` fixture and by
    ``bench/publish_throughput.py``."""
    cli = Path(SITE_PYTHON).with_name("wagtail")
    cli = str(cli) if cli.exists() else shutil.which("wagtail")
    assert cli, "the wagtail CLI is missing: pip install -e '.[test]'"
    assert (INTEGRATION / "brandflow_wagtail" / "api.py").exists(), INTEGRATION
    subprocess.run([cli, "start", "cmssite"], cwd=base, check=True, capture_output=True, timeout=120)
    root = base / "cmssite"
    (root / "cmssite" / "settings" / "local.py").write_text(SETTINGS_PATCH)   # dev.py imports .local
    urls = root / "cmssite" / "urls.py"
    text = urls.read_text()
    assert URLS_ANCHOR in text, "the wagtail start template changed: update URLS_ANCHOR"
    urls.write_text(text.replace(URLS_ANCHOR, URLS_ANCHOR + URLS_PATCH))
    # What `pip install ./integrations/wagtail` does for the site, without installing into the test venv.
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(INTEGRATION), os.environ.get("PYTHONPATH")]))}

    _manage(root, "migrate", "--noinput", "-v0", env=env)
    _manage(root, "check", "--fail-level", "ERROR", env=env)
    _manage(root, "createsuperuser", "--noinput", env={**env, "DJANGO_SUPERUSER_USERNAME": USER, "DJANGO_SUPERUSER_EMAIL":
                                                         "brandflow@example.com", "DJANGO_SUPERUSER_PASSWORD": uuid.uuid4().hex})
    token = re.search(r"[0-9a-f]{40}", _manage(root, "create_api_token", USER, env=env)).group(0)
    limited = re.search(r"LIMITED ([0-9a-f]{40})", _manage(root, "shell", "-c", SETUP, env=env)).group(1)

    port = _free_port()
    log = open(base / "runserver.log", "w")
    server = subprocess.Popen([SITE_PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=root,
                              env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    origin = f"http://127.0.0.1:{port}"
    site = Site(origin, f"{origin}/api/brandflow/v1/", token, limited, root, env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(site.api + "images/", timeout=2).status_code == 401:  # up, and asking for the token
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, \
                "runserver did not come up:\n" + (base / "runserver.log").read_text()[-3000:]
            time.sleep(0.2)
        yield site
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
