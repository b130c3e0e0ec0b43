"""infra/ and prefect.yaml parse and say what the operator's docs promise.

No JSON schema for these formats ships offline (compose-spec, the Helm charts' values.schema.json and
Prefect's prefect.yaml schema live online), so the checks here are structural: the keys each tool
needs, cross-checked against each other (pools, images, entrypoints).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


# --------------------------------------------------------------------------- Dockerfile
def _dockerfile_lines() -> list[str]:
    text = (INFRA / "Dockerfile").read_text()
    return [l for l in text.replace("\\\n", " ").splitlines() if l.strip() and not l.lstrip().startswith("#")]


def test_dockerfile_has_cpu_and_cuda_variants_chosen_by_a_build_arg():
    lines = _dockerfile_lines()
    froms = [l.split() for l in lines if l.upper().startswith("FROM ")]
    stages = {f[-1]: f[1] for f in froms if len(f) >= 4 and f[-2].upper() == "AS"}
    assert {"base-cpu", "base-cuda", "final"} <= set(stages)
    assert stages["final"] == "base-${VARIANT}"
    assert stages["base-cuda"] == "${CUDA_IMAGE}" and stages["base-cpu"].startswith("python:")
    first_from = next(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    global_args = dict(l.split()[1].split("=", 1) for l in lines[:first_from] if l.upper().startswith("ARG "))
    assert global_args["VARIANT"] == "cpu", "the CPU image is the default"
    assert "nvidia/cuda" in global_args["CUDA_IMAGE"]


def test_dockerfile_installs_tesseract_and_the_project_and_starts_a_worker():
    text = " ".join(_dockerfile_lines())
    assert re.search(r"apt-get install[^&]*\btesseract-ocr\b", text), "OCR QA needs Tesseract in the image"
    assert 'pip install ".[${BRANDFLOW_EXTRAS}]"' in text
    assert "BRANDFLOW_EXTRAS=s3,flux2" in text and "BRANDFLOW_EXTRAS=s3" in text
    assert "BRANDFLOW_PROJECT_DIR=/opt/brandflow" in text, "prefect.yaml's pull step needs it"
    assert "COPY prefect.yaml" in text
    cmd = next(l for l in _dockerfile_lines() if l.startswith("CMD"))
    assert json.loads(cmd[3:].strip())[:3] == ["prefect", "worker", "start"]
    assert any(l.startswith("USER ") and "root" not in l for l in _dockerfile_lines()), "the worker does not run as root"


# --------------------------------------------------------------------------- compose
@pytest.fixture(scope="module")
def compose() -> dict:
    return _load(INFRA / "compose.yaml")


def test_compose_has_server_postgres_worker_and_s3_store(compose):
    services = compose["services"]
    assert {"postgres", "prefect-server", "worker", "minio", "deploy"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"service {name} has neither image nor build"
    server = services["prefect-server"]
    assert server["command"][:3] == ["prefect", "server", "start"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert server["environment"]["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert "postgres" in server["depends_on"]
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "infra/Dockerfile" and worker["build"]["args"]["VARIANT"] == "cpu"
    assert worker["command"][:3] == ["prefect", "worker", "start"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["environment"]["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert worker["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_compose_gpu_worker_reserves_an_nvidia_device(compose):
    gpu = compose["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["VARIANT"] == "cuda"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    pool = gpu["command"][gpu["command"].index("--pool") + 1]
    assert pool in _pools_in_prefect_yaml()
    assert gpu["command"][gpu["command"].index("--limit") + 1] == "1", "one flow run per GPU"


# --------------------------------------------------------------------------- Helm values
def test_helm_gpu_worker_values_select_gpu_nodes_and_limit_nvidia_gpus():
    values = _load(INFRA / "helm" / "prefect-worker-gpu-values.yaml")
    config = values["worker"]["config"]
    assert config["type"] == "kubernetes" and config["workPool"] in _pools_in_prefect_yaml()
    assert values["worker"]["apiConfig"] == "server" and values["worker"]["serverApiConfig"]["apiUrl"].endswith("/api")
    assert "nodeSelector" in values["worker"]
    template = json.loads(config["baseJobTemplate"]["configuration"])
    assert {"job_configuration", "variables"} <= set(template)
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "{{ gpu_product }}"}
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpu_count }}"
    variables = template["variables"]["properties"]
    assert variables["gpu_count"]["default"] == 1 and variables["gpu_product"]["default"] == "NVIDIA-L4"
    # every {{ placeholder }} of the job configuration is a declared variable
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", json.dumps(template["job_configuration"])))
    assert used <= set(variables), f"undeclared template variables: {used - set(variables)}"


def test_helm_server_and_cpu_worker_values():
    server = _load(INFRA / "helm" / "prefect-server-values.yaml")
    assert server["global"]["prefect"]["image"]["prefectTag"].startswith("3.8.8")
    assert server["postgresql"]["enabled"] is False and server["secret"]["create"] is False and server["secret"]["name"]
    assert {"name": "PREFECT_SERVER_ANALYTICS_ENABLED", "value": "false"} in server["global"]["prefect"]["env"]
    cpu = _load(INFRA / "helm" / "prefect-worker-cpu-values.yaml")
    assert cpu["worker"]["config"]["workPool"] in _pools_in_prefect_yaml()
    assert "nodeSelector" in cpu["worker"]


# --------------------------------------------------------------------------- prefect.yaml
def _pools_in_prefect_yaml() -> set[str]:
    return {d["work_pool"]["name"] for d in _load(ROOT / "prefect.yaml")["deployments"]}


def test_prefect_yaml_deployments_schedule_and_explicit_event_triggers():
    config = _load(ROOT / "prefect.yaml")
    assert config["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $BRANDFLOW_PROJECT_DIR }}"}}]
    deployments = {d["name"]: d for d in config["deployments"]}
    assert {"campaign", "campaign-gpu-l4", "saleor-weekly"} <= set(deployments)
    for d in deployments.values():
        assert d["entrypoint"] == "brandflow/flows/campaign.py:campaign_flow"
        path, _, func = d["entrypoint"].partition(":")
        assert (ROOT / path).is_file() and f"def {func}(" in (ROOT / path).read_text()
    (schedule,) = deployments["saleor-weekly"]["schedules"]
    assert schedule == {"cron": "0 6 * * 1", "timezone": "Europe/Berlin", "active": True}
    assert (ROOT / deployments["saleor-weekly"]["parameters"]["spec_path"]).is_file()
    triggers = {t["expect"][0]: t for t in deployments["campaign"]["triggers"]}
    assert set(triggers) == {"brandflow.campaign.requested", "brandflow.catalog.updated"}
    for event, trigger in triggers.items():
        assert trigger["match"], f"{event}: match must be explicit"
        assert trigger["match"]["prefect.resource.id"].startswith("brandflow.")
        assert all("{{ event.payload." in v for v in trigger["parameters"].values())
    assert triggers["brandflow.catalog.updated"]["parameters"] == {
        "spec_path": "{{ event.payload.campaign }}", "feed": "{{ event.payload.feed }}"
    }
    # the trigger models Prefect builds from these specs accept them
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    for trigger in triggers.values():
        DeploymentEventTrigger(**{k: v for k, v in trigger.items() if k != "type"})
