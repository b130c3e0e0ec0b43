"""Deployments of the campaign flow: from ``prefect.yaml``, per campaign on a work pool, or served in-process.

Three ways, all against the Prefect server of ``PREFECT_API_URL`` (docs/operations.md):

- :func:`deploy_from_yaml` — the project's ``prefect.yaml`` (what ``brandflow deploy`` does): creates the
  ``process`` work pools it names when they are missing, then runs ``prefect deploy`` on the file.
- :func:`deploy_campaign` — one campaign file as a deployment on a work pool, with the campaign's
  ``schedule:`` and event triggers (``brandflow deploy --campaign``).
- :func:`serve_campaign` — one campaign served by this process (``flow.serve``), with its schedule and
  triggers; no work pool or worker needed (``brandflow serve``).

Event grammar (the ``match`` of every trigger is explicit):

==============================  ==========================================  ========================================
event                           resource id                                 payload → flow parameters
==============================  ==========================================  ========================================
``brandflow.campaign.requested``  ``brandflow.campaign.<campaign slug>``      ``spec_path`` (prefect.yaml deployment)
``brandflow.catalog.updated``     ``brandflow.catalog.<catalog name>``        ``feed`` (+ ``campaign`` in prefect.yaml)
==============================  ==========================================  ========================================
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import yaml

from brandflow.errors import BrandflowError
from brandflow.spec import CampaignSpec, load_campaign

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

#: where the deployments of prefect.yaml find the project on a worker (their pull step's working directory)
PROJECT_DIR_ENV = "BRANDFLOW_PROJECT_DIR"
CAMPAIGN_REQUESTED = "brandflow.campaign.requested"
CATALOG_UPDATED = "brandflow.catalog.updated"


class DeployError(BrandflowError):
    """A deployment could not be registered (no server, a missing work pool, ``prefect deploy`` failed)."""


def require_api_url() -> str:
    """The configured ``PREFECT_API_URL``; raises :class:`DeployError` when this process has none."""
    from brandflow.flows.approval import configured_api_url

    url = configured_api_url()
    if not url:
        raise DeployError(
            "no Prefect server: deployments, schedules, triggers and approvals need one. Start it with "
            "`prefect server start` and set PREFECT_API_URL (e.g. `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`)"
        )
    return url


def work_pools_in(prefect_file: str | Path, names: Iterable[str] | None = None) -> list[str]:
    """The work pool names of the deployments in ``prefect_file`` (only those called ``names``, if given)."""
    config = yaml.safe_load(Path(prefect_file).read_text()) or {}
    wanted = set(names or [])
    pools = []
    for d in config.get("deployments") or []:
        pool = ((d.get("work_pool") or {}).get("name")) if isinstance(d, dict) else None
        if pool and (not wanted or d.get("name") in wanted) and pool not in pools:
            pools.append(pool)
    return pools


def ensure_work_pools(names: Iterable[str], pool_type: str = "process") -> list[str]:
    """Create the work pools among ``names`` that the server does not have; returns the created ones.

    Only ``process`` pools are created here (their job template ships with Prefect); other types
    (``kubernetes``, ``docker``) need their worker package and are created by the operator
    (``prefect work-pool create NAME --type kubernetes``).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    if pool_type != "process":
        raise DeployError(f"brandflow creates only 'process' work pools; create {pool_type!r} pools with `prefect work-pool create`")
    from prefect.workers.process import ProcessWorker

    created = []
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template())
                )
                created.append(name)
    return created


def deploy_from_yaml(
    prefect_file: str | Path = "prefect.yaml",
    names: list[str] | None = None,
    create_pools: bool = True,
    extra_env: dict[str, str] | None = None,
) -> list[str]:
    """Register the deployments of ``prefect_file`` with ``prefect deploy`` (run in the file's folder).

    Args:
        prefect_file: the project's prefect.yaml.
        names: deployment names to register (default: all).
        create_pools: create the missing ``process`` work pools named by those deployments first.
        extra_env: environment for the ``prefect deploy`` process on top of this one's.

    Returns:
        The work pools that were created.

    Raises:
        DeployError: no server configured, or ``prefect deploy`` failed (its output is in the message).
    """
    require_api_url()
    prefect_file = Path(prefect_file).resolve()
    if not prefect_file.is_file():
        raise DeployError(f"{prefect_file} not found: pass --file PATH/TO/prefect.yaml")
    created = ensure_work_pools(work_pools_in(prefect_file, names)) if create_pools else []
    cmd = [sys.executable, "-m", "prefect", "deploy", "--no-prompt", "--prefect-file", str(prefect_file)]
    for name in names or []:
        cmd += ["--name", name]
    if not names:
        cmd.append("--all")
    # `prefect deploy` would bake a BRANDFLOW_PROJECT_DIR of this machine into the pull step; without it the
    # placeholder reaches the deployment and each worker resolves it from its own environment.
    env = {k: v for k, v in os.environ.items() if k != PROJECT_DIR_ENV}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(extra_env or {})})
    done = subprocess.run(cmd, cwd=prefect_file.parent, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise DeployError(f"`prefect deploy` failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return created


def campaign_triggers(spec: CampaignSpec, catalog: str | None = None) -> list[DeploymentEventTrigger]:
    """Event triggers of one campaign's deployment.

    - ``brandflow.campaign.requested`` on resource ``brandflow.campaign.<slug>``: run with the deployment's parameters.
    - with ``catalog``: ``brandflow.catalog.updated`` on resource ``brandflow.catalog.<catalog>``: run with
      ``feed`` = the event's ``payload.feed``.
    """
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    triggers = [
        DeploymentEventTrigger(
            name=f"{spec.slug}: {CAMPAIGN_REQUESTED}",
            expect={CAMPAIGN_REQUESTED},
            match={"prefect.resource.id": f"brandflow.campaign.{spec.slug}"},
        )
    ]
    if catalog:
        triggers.append(
            DeploymentEventTrigger(
                name=f"{spec.slug}: {CATALOG_UPDATED} {catalog}",
                expect={CATALOG_UPDATED},
                match={"prefect.resource.id": f"brandflow.catalog.{catalog}"},
                parameters={"feed": "{{ event.payload.feed }}"},
            )
        )
    return triggers


def campaign_deployment(
    spec_path: str | Path,
    name: str | None = None,
    work_pool_name: str | None = None,
    triggers: bool = True,
    catalog: str | None = None,
    tags: list[str] | None = None,
) -> RunnerDeployment:
    """One campaign as a deployment of the campaign flow: ``spec_path`` (absolute) as its parameter,
    the campaign's ``schedule:`` (cron + time zone) if it has one, and :func:`campaign_triggers`.

    The entrypoint is the module path ``brandflow.flows.campaign.campaign_flow``: a worker needs the
    brandflow package installed, not a copy of this folder.

    Args:
        spec_path: the campaign YAML (validated now; its absolute path is what the worker will read).
        name: deployment name (default: the campaign's slug).
        work_pool_name: for :func:`deploy_campaign`; ``None`` when served.
        triggers: add the event triggers.
        catalog: also run when ``brandflow.catalog.updated`` names this catalog.
        tags: deployment tags (``brandflow`` is always added).
    """
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import EntrypointType

    from brandflow.flows.campaign import campaign_flow

    path = Path(spec_path).resolve()
    spec, _ = load_campaign(path)
    kwargs: dict[str, Any] = {}
    if spec.schedule:
        kwargs["schedules"] = [CronSchedule(cron=spec.schedule.cron, timezone=spec.schedule.timezone)]
    return campaign_flow.to_deployment(
        name=name or spec.slug,
        parameters={"spec_path": str(path)},
        triggers=campaign_triggers(spec, catalog) if triggers else None,
        description=f"Campaign {spec.name} ({path})",
        tags=sorted({"brandflow", *(tags or [])}),
        work_pool_name=work_pool_name,
        entrypoint_type=EntrypointType.MODULE_PATH,
        **kwargs,
    )


def deploy_campaign(
    spec_path: str | Path, work_pool_name: str, name: str | None = None, triggers: bool = True, catalog: str | None = None,
    create_pool: bool = True,
) -> UUID:
    """Register one campaign as a deployment on ``work_pool_name`` (see :func:`campaign_deployment`);
    returns the deployment id. Creates the pool (``process``) when it is missing and ``create_pool``."""
    require_api_url()
    if create_pool:
        ensure_work_pools([work_pool_name])
    deployment = campaign_deployment(spec_path, name, work_pool_name, triggers, catalog)
    return deployment.apply(work_pool_name=work_pool_name)


def serve_campaign(spec_path: str | Path, name: str | None = None, triggers: bool = True, catalog: str | None = None,
                   limit: int | None = None) -> None:
    """Serve one campaign from this process until interrupted: its schedule runs, its triggers fire,
    and ``POST /api/deployments/{id}/create_flow_run`` starts runs here (``flow.serve``)."""
    from prefect import serve

    require_api_url()
    serve(campaign_deployment(spec_path, name, None, triggers, catalog), limit=limit)
