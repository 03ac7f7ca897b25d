"""deploy/ checked without a cloud, a Docker engine or a cluster: syntax and consistency.

Nothing here can build the image, render the chart or plan Terraform, so these tests read
the files and hold them to what the code and the other files expect: the Dockerfile's
instructions, the dockerignore allow-list, the compose services and their shared settings,
the Helm values against deploy/dagster.yaml, the Terraform against the dbt schemas and the
code's settings, and every TOAST_* variable a deploy file sets against the code that reads it.
"""

import ast
import functools
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import class_from_code_pointer
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
TERRAFORM = DEPLOY / "terraform"
ENVIRONMENTS = ("dev", "staging", "prod")
# Settings that choose a backend: the deployment gives them once (the ConfigMap / compose file),
# never as an image default or a Helm `env` entry that would silently win over the ConfigMap.
BACKEND_SETTINGS = ("TOAST_LAKE_URL", "TOAST_WAREHOUSE", "TOAST_DUCKDB_PATH", "TOAST_DBT_TARGET")
DAGSTER_SERVICES = ("code-server", "webserver", "daemon")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY$|WEBHOOK|CREDENTIALS", re.IGNORECASE)


# ---------------------------------------------------------------------------- shared readers


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def locked_version(package: str) -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == package]
    return version


def instance_yaml() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def helm_values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


# Parsing HCL is slow (a grammar-driven parser): each file is parsed once per session.
@functools.cache
def hcl(path: Path) -> dict[str, Any]:
    """A Terraform file as plain Python values (quotes stripped, no comments or markers)."""
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    return hcl2.loads(path.read_text(), serialization_options=options)


@functools.cache
def terraform() -> dict[str, list[Any]]:
    """Every block of every deploy/terraform/*.tf file, grouped by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        for block_type, blocks in hcl(path).items():
            merged.setdefault(block_type, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Terraform resources of one type, by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in terraform().get("resource", []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested block that occurs once (the parser gives every block as a list)."""
    value = body[name]
    if isinstance(value, list):
        (value,) = value
    return value


def variables() -> dict[str, dict[str, Any]]:
    return {name: body for block in terraform()["variable"] for name, body in block.items()}


def tf_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in terraform()["locals"]:
        merged.update(block)
    return merged


def module_constant(path: Path, name: str) -> Any:
    """A module-level literal (string, dict, ...), read without importing the module (and its
    pandas or google-cloud clients)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {path}")


@functools.cache
def settings_the_code_reads() -> frozenset[str]:
    """TOAST_* names the code uses as whole strings (env lookups, ENV_* constants) and the
    names dbt reads with env_var(); docstrings and comments do not count."""
    names: set[str] = set()
    for path in (REPO / "toast_assets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"TOAST_[A-Z0-9_]+", node.value):
                names.add(node.value)
    for path in [REPO / "dbt_project" / "profiles.yml", *(REPO / "dbt_project" / "models").rglob("*.yml")]:
        names.update(re.findall(r"env_var\(\s*'{1,2}(TOAST_[A-Z0-9_]+)", path.read_text()))
    return frozenset(names)


def dbt_schemas() -> set[str]:
    """Schemas (BigQuery datasets) the dbt project builds into, from its `+schema` configs."""
    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "+schema":
                    yield value
                else:
                    yield from walk(value)

    return set(walk(project.get("models", {}))) | set(walk(project.get("seeds", {})))


# ---------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def dockerfile() -> tuple[list[Instruction], dict[str, str]]:
    """(instructions with their stage index, global ARG defaults) of deploy/Dockerfile."""
    text = (DEPLOY / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions: list[Instruction] = []
    global_args: dict[str, str] = {}
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        if keyword == "ARG" and stage == -1 and "=" in args:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip()
        instructions.append(Instruction(stage, keyword, args.strip()))
    return instructions, global_args


def test_dockerfile_is_multi_stage_on_a_slim_python_matching_the_project() -> None:
    instructions, global_args = dockerfile()
    stages = [i for i in instructions if i.keyword == "FROM"]
    assert len(stages) >= 3, "uv, build and runtime stages"
    names = [i.args.split()[-1] for i in stages if " AS " in i.args.upper()]
    assert "build" in names and "runtime" in names

    def image(stage: Instruction) -> str:
        reference = stage.args.split()[0]
        return re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], reference)

    build, runtime = image(stages[-2]), image(stages[-1])
    assert build == runtime, "build and runtime must share the interpreter the venv was made with"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", runtime), runtime
    assert pyproject()["project"]["requires-python"].startswith(">=3.11,<3.12")
    uv_image = image(stages[0])
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", uv_image), "pin the uv version"


def test_dockerfile_installs_from_the_lock_file_and_prepares_the_dbt_manifest() -> None:
    instructions, _ = dockerfile()
    build_stage = max(i.stage for i in instructions) - 1
    build = [i for i in instructions if i.stage == build_stage]
    copies = [i for i in build if i.keyword == "COPY"]
    runs = [i.args for i in build if i.keyword == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs and all("--frozen" in r and "--no-dev" in r for r in syncs), syncs
    # Dependencies from the lock file before the code is copied: a code change keeps that layer.
    first_sync = next(n for n, i in enumerate(build) if i.keyword == "RUN" and "uv sync" in i.args)
    lock_copy = next(n for n, i in enumerate(build) if i.keyword == "COPY" and "uv.lock" in i.args)
    code_copy = next(n for n, i in enumerate(build) if i.keyword == "COPY" and "toast_assets" in i.args)
    assert lock_copy < first_sync < code_copy

    manifest = [r for r in runs if "prepare-and-package" in r]
    assert len(manifest) == 1
    file_arg = re.search(r"--file\s+(\S+)", manifest[0])
    assert file_arg and (REPO / file_arg.group(1)).is_file()
    assert "manifest.json" in manifest[0], "the build fails if no manifest was written"
    for copy in copies:
        if "--from=" in copy.args:
            continue  # from another stage, not from the repository
        for source in shlex.split(copy.args)[:-1]:
            if not source.startswith("--"):
                assert (REPO / source).exists(), f"COPY source {source} is not in the repository"


def test_dockerfile_runtime_is_non_root_with_a_healthcheck_and_no_secrets() -> None:
    instructions, _ = dockerfile()
    runtime_stage = max(i.stage for i in instructions)
    runtime = [i for i in instructions if i.stage == runtime_stage]
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0") and uid.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    last_user = max(n for n, i in enumerate(runtime) if i.keyword == "USER")
    assert all(i.keyword != "RUN" for i in runtime[last_user:]), "nothing runs as root after USER"
    assert any(i.keyword == "HEALTHCHECK" and "grpc-health-check" in i.args for i in runtime)
    cmd = next(i.args for i in runtime if i.keyword == "CMD")
    assert pyproject()["tool"]["dagster"]["module_name"] in cmd
    assert "/opt/dagster/dagster_home" in next(i.args for i in runtime if i.keyword == "ENV")
    assert any(i.keyword == "COPY" and "deploy/dagster.yaml" in i.args for i in runtime)

    for instruction in instructions:
        assert instruction.keyword != "ADD", "ADD can fetch URLs and unpack archives: use COPY"
        if instruction.keyword in ("ENV", "ARG"):
            for name in re.findall(r"(\w+)=", instruction.args):
                assert not SECRET_NAME.search(name), f"{instruction.keyword} {name}: secrets never go into an image"
        if instruction.keyword == "COPY":
            assert not re.search(r"\.env\b|id_(rsa|ed25519)|known_hosts|\.pem|tfstate", instruction.args)


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context (last matching pattern wins;
    a pattern matching a parent folder matches everything inside it)."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out + "$")

    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        compiled = regex(pattern.strip("/"))
        if any(compiled.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    needed = [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "workspace.yaml",
        "deploy/dagster.yaml",
        "toast_assets/definitions.py",
        "toast_assets/dbt/project.py",
        "dbt_project/dbt_project.yml",
        "dbt_project/profiles.yml",
        "dbt_project/models/staging/toast/_toast__sources.yml",
    ]
    for path in needed:
        assert (REPO / path).exists(), path
        assert not _dockerignore_excludes(path, patterns), f"{path} is needed by the build but ignored"
    never = [
        ".venv/bin/python",
        ".demo/keys/client_ed25519",
        ".data/toast.duckdb",
        ".dagster_home/dagster.yaml",
        ".git/config",
        "deploy/.env",
        "deploy/secrets/toast_sftp_key",
        "deploy/secrets/toast_known_hosts",
        "deploy/terraform/terraform.tfstate",
        "deploy/terraform/.terraform/providers/x",
        "dbt_project/target/manifest.json",
        "toast_assets/__pycache__/settings.cpython-311.pyc",
        "tests/test_sftp.py",
        "toast_sftp_key",
    ]
    for path in never:
        assert _dockerignore_excludes(path, patterns), f"{path} would be sent to the image build"


# ---------------------------------------------------------------------------- deploy/dagster.yaml


def test_production_instance_config_is_valid_for_this_dagster(tmp_path: Path) -> None:
    """Schema-valid as a whole (what `DagsterInstance` checks before connecting) and in its
    pluggable parts; the GCS compute log block is validated here because the Postgres test
    has to leave it out (no GCS in CI)."""
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    dagster_instance_config(str(tmp_path))

    config = instance_yaml()
    for block in ("run_coordinator", "compute_logs", "run_storage", "event_log_storage", "schedule_storage"):
        klass = class_from_code_pointer(config[block]["module"], config[block]["class"])
        result = validate_config(klass.config_type(), config[block]["config"])
        assert result.success, (block, [error.message for error in result.errors])
    assert config["compute_logs"]["class"] == "GCSComputeLogManager"
    assert config["event_log_storage"]["class"] == "PooledPostgresEventLogStorage"
    assert config["instance_class"] == {"module": "toast_assets.lib.instance_storage", "class": "BatchedEventsInstance"}

    # One database for all three storages.
    postgres = config["run_storage"]["config"]["postgres_db"]
    for block in ("event_log_storage", "schedule_storage"):
        assert config[block]["config"]["postgres_db"] == postgres
    assert {postgres[k]["env"] for k in ("hostname", "port", "username", "password", "db_name")} == {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    }
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    per_date = next(limit for limit in limits if limit["key"] == "dagster/partition")
    assert per_date == {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    assert any(limit["key"] == "toast/warehouse" for limit in limits)
    assert config["run_retries"]["enabled"] and config["run_monitoring"]["enabled"]


def _env_names(text: str) -> set[str]:
    return set(re.findall(r"env:\s*(\w+)", text))


def test_every_process_gets_the_instance_settings_it_reads() -> None:
    needed = _env_names((DEPLOY / "dagster.yaml").read_text())
    services = compose()["services"]
    for name in DAGSTER_SERVICES:
        assert needed <= set(services[name]["environment"]), f"compose service {name} lacks {needed - set(services[name]['environment'])}"


# ---------------------------------------------------------------------------- docker compose


def test_compose_runs_postgres_code_server_webserver_and_daemon_consistently() -> None:
    spec = compose()
    services = spec["services"]
    assert set(services) == {"postgres", *DAGSTER_SERVICES}

    # One instance for all three Dagster processes.
    envs = [services[name]["environment"] for name in DAGSTER_SERVICES]
    shared = {k: v for k, v in envs[0].items() if k.startswith("DAGSTER_")}
    for env in envs[1:]:
        assert {k: v for k, v in env.items() if k.startswith("DAGSTER_")} == shared
    assert shared["DAGSTER_PG_HOST"] == "${DAGSTER_PG_HOST:-postgres}", "the compose Postgres by default"
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] == shared["DAGSTER_PG_USER"]
    assert postgres["POSTGRES_PASSWORD"] == shared["DAGSTER_PG_PASSWORD"]
    assert postgres["POSTGRES_DB"] == shared["DAGSTER_PG_DB"]
    assert shared["DAGSTER_PG_PASSWORD"].startswith("${") and ":?" in shared["DAGSTER_PG_PASSWORD"], "never a literal password"
    assert "ports" not in services["postgres"]
    assert services["postgres"]["image"].startswith("postgres:15"), "the same major version as Cloud SQL"
    assert shared["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    for name in DAGSTER_SERVICES:
        mounts = services[name]["volumes"]
        assert any(m.endswith(":/opt/dagster/dagster_home/dagster.yaml:ro") and "./dagster.yaml" in m for m in mounts)
        assert "healthcheck" in services[name]
    assert all("healthcheck" in s for s in services.values())

    # The UI is published on loopback only.
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]

    # The webserver and the daemon find the code server where it listens.
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    server = location["grpc_server"]
    assert server["host"] == "code-server"
    code_command = services["code-server"]["command"]
    assert code_command[code_command.index("-p") + 1] == str(server["port"])
    assert code_command[code_command.index("-m") + 1] == pyproject()["tool"]["dagster"]["module_name"]
    assert server["location_name"] == pyproject()["tool"]["dagster"]["code_location_name"]
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/workspace.yaml"
        assert "./workspace.yaml:/opt/dagster/workspace.yaml:ro" in services[name]["volumes"]
    build = services["code-server"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()

    # The SFTP key and known_hosts are compose secrets, at the paths the settings name.
    code_env = services["code-server"]["environment"]
    for variable, secret in (
        ("TOAST_SFTP_PRIVATE_KEY_PATH", "toast_sftp_private_key"),
        ("TOAST_SFTP_KNOWN_HOSTS", "toast_sftp_known_hosts"),
    ):
        assert code_env[variable] == f"/run/secrets/{secret}"
        assert secret in services["code-server"]["secrets"] and secret in spec["secrets"]


def test_compose_runs_on_the_gcs_lake_and_bigquery_with_duckdb_as_a_commented_alternative() -> None:
    spec = compose()
    code = spec["services"]["code-server"]
    env = code["environment"]
    assert env["TOAST_WAREHOUSE"] == "bigquery"
    # Required from deploy/.env: compose refuses to start without them.
    for name in ("TOAST_LAKE_URL", "TOAST_GCP_PROJECT"):
        assert env[name].startswith(f"${{{name}:?"), f"{name} must be required from deploy/.env"
    assert env["TOAST_BQ_RAW_DATASET"] == f"${{TOAST_BQ_RAW_DATASET:-{variables()['raw_dataset_id']['default']}}}"
    assert env["TOAST_BQ_LOCATION"] == f"${{TOAST_BQ_LOCATION:-{variables()['bigquery_location']['default']}}}"
    # dbt's target follows the warehouse; no DuckDB file and no data volume on this path.
    assert "TOAST_DBT_TARGET" not in env and "TOAST_DUCKDB_PATH" not in env
    assert not any(":/data" in mount for mount in code["volumes"])
    assert "toast-data" not in (spec.get("volumes") or {})
    # Every setting Terraform prints is one the code server is given.
    assert set(tf_locals()["platform_settings"]) <= set(env)
    # The embedded alternative stays written down, commented out.
    text = (DEPLOY / "docker-compose.yml").read_text()
    for line in ("# TOAST_WAREHOUSE: duckdb", "# TOAST_LAKE_URL: /data/lake", "# TOAST_DUCKDB_PATH: /data/toast.duckdb", "# - toast-data:/data"):
        assert line in text, line


def test_every_compose_variable_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)", (DEPLOY / "docker-compose.yml").read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "compose.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    # DAGSTER_INSTANCE_YAML is an optional override documented in deploy/README.md.
    assert used - {"DAGSTER_INSTANCE_YAML"} <= example, used - example
    for line in (DEPLOY / "compose.env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not name.endswith("_FILE"):
            assert value == "", f"{name} must stay empty in the example"


# ---------------------------------------------------------------------------- Helm values


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_helm_values_configure_the_same_instance_as_dagster_yaml() -> None:
    values = helm_values()
    instance = instance_yaml()

    queued = values["dagsterDaemon"]["runCoordinator"]
    assert queued["enabled"] and queued["type"] == "QueuedRunCoordinator"
    as_instance = {_snake(k): v for k, v in queued["config"]["queuedRunCoordinator"].items()}
    assert as_instance == instance["run_coordinator"]["config"]

    # The chart's own retry/monitoring fields cannot say everything dagster.yaml says, so the
    # blocks travel through additionalInstanceConfig, exactly once.
    extra = values["additionalInstanceConfig"]
    for block in ("run_retries", "run_monitoring"):
        assert extra[block] == instance[block]
    assert not values["dagsterDaemon"]["runRetries"]["enabled"]
    assert not values["dagsterDaemon"]["runMonitoring"]["enabled"]

    retention = values["retention"]
    assert retention["enabled"]
    for kind in ("schedule", "sensor"):
        assert retention[kind]["purgeAfterDays"] == instance["retention"][kind]["purge_after_days"]

    logs = values["computeLogManager"]
    assert logs["type"] == instance["compute_logs"]["class"]
    gcs = logs["config"]["gcsComputeLogManager"]
    assert gcs["prefix"] == instance["compute_logs"]["config"]["prefix"]
    assert gcs["uploadInterval"] == instance["compute_logs"]["config"]["upload_interval"]

    postgres = values["postgresql"]
    assert postgres["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert postgres["postgresqlScheme"] == instance["run_storage"]["config"]["postgres_db"]["scheme"]
    assert postgres["postgresqlPassword"] == "", "the password comes from a Secret, never from values"
    assert values["telemetry"]["enabled"] is False


def test_helm_values_run_our_code_with_k8s_jobs_and_the_sftp_key_from_a_secret() -> None:
    values = helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    user = values["dagster-user-deployments"]
    assert user["enabled"] and user["enableSubchart"]
    (deployment,) = user["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == pyproject()["tool"]["dagster"]["module_name"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"], "run pods need the same key and settings"
    assert deployment["podSecurityContext"]["runAsNonRoot"] and deployment["podSecurityContext"]["runAsUser"] == 10001

    env = {item["name"]: item["value"] for item in deployment["env"]}
    secret_volumes = {v["name"]: v["secret"] for v in deployment["volumes"] if "secret" in v}
    assert {s["secretName"] for s in secret_volumes.values()} == {"toast-sftp"}
    (volume_name,) = secret_volumes
    mount = next(m for m in deployment["volumeMounts"] if m["name"] == volume_name)
    assert mount["readOnly"]
    keys = {item["path"] for item in secret_volumes[volume_name]["items"]}
    for variable in ("TOAST_SFTP_PRIVATE_KEY_PATH", "TOAST_SFTP_KNOWN_HOSTS"):
        folder, _, file_name = env[variable].rpartition("/")
        assert folder == mount["mountPath"] and file_name in keys
    assert "TOAST_SFTP_PRIVATE_KEY" not in env, "the key travels as a file, not as an environment variable"
    # The chart writes its own instance (no instance_class): run pods get the batch size as
    # deploy/dagster.yaml's BatchedEventsInstance would set it.
    from toast_assets.lib.instance_storage import EVENT_BATCH_SIZE

    assert env["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
    assert {"toast-settings"} == {c["name"] for c in deployment["envConfigMaps"]}

    # The chart version is the Dagster version the image locks.
    header = (DEPLOY / "helm" / "values.yaml").read_text()
    assert f"version {locked_version('dagster')}" in header
    assert f"--version {locked_version('dagster')}" in header
    assert f"--version {locked_version('dagster')}" in (DEPLOY / "README.md").read_text()
    for component in ("dagsterWebserver", "dagsterDaemon"):
        assert values[component]["image"]["tag"] is None, "Dagster's image for the chart version"


def test_the_ui_is_only_reachable_through_identity_aware_proxy() -> None:
    values = helm_values()
    service = values["dagsterWebserver"]["service"]
    assert service["type"] == "ClusterIP"
    backend_configs = [m for m in values["extraManifests"] if m["kind"] == "BackendConfig"]
    (iap,) = [m for m in backend_configs if m["spec"].get("iap", {}).get("enabled")]
    assert f'"default": "{iap["metadata"]["name"]}"' in service["annotations"]["cloud.google.com/backend-config"]
    ingress = values["ingress"]
    assert ingress["enabled"] and ingress["annotations"]["kubernetes.io/ingress.class"] == "gce"
    assert ingress["annotations"]["kubernetes.io/ingress.allow-http"] == "false"
    assert not values["dagsterWebserver"].get("enableReadOnly")
    # Only the members Terraform names may pass IAP.
    iap_grants = resources("google_iap_web_iam_member")
    assert [grant["role"] for grant in iap_grants.values()] == ["roles/iap.httpsResourceAccessor"]


def test_kubernetes_service_accounts_match_the_workload_identity_bindings() -> None:
    values = helm_values()
    bindings = [binding["member"] for binding in resources("google_service_account_iam_member").values()]
    for service_account in (values["serviceAccount"]["name"], values["dagster-user-deployments"]["serviceAccount"]["name"]):
        assert any(member.endswith(f"/{service_account}]") for member in bindings), service_account
    overlay = (TERRAFORM / "outputs.tf").read_text()
    for key in ("iam.gke.io/gcp-service-account", "postgresqlHost", "gcsComputeLogManager", "dagster-user-deployments"):
        assert key in overlay


# ---------------------------------------------------------------------------- Terraform


def test_terraform_parses_and_documents_every_variable_and_output() -> None:
    for path in [*TERRAFORM.glob("*.tf"), *TERRAFORM.glob("env/*.tfvars")]:
        hcl(path)
    for name, body in variables().items():
        assert body.get("description", "").strip(), f"variable {name} needs a description"
        assert "type" in body, f"variable {name} needs a type"
    outputs = {name: body for block in terraform()["output"] for name, body in block.items()}
    assert outputs
    for name, body in outputs.items():
        assert body.get("description", "").strip(), f"output {name} needs a description"
    backend = terraform()["terraform"][0]["backend"]
    assert "gcs" in (backend[0] if isinstance(backend, list) else backend)


def test_one_tfvars_per_environment_setting_every_required_variable() -> None:
    declared = variables()
    required = {name for name, body in declared.items() if "default" not in body}
    files = sorted(path.stem for path in (TERRAFORM / "env").glob("*.tfvars"))
    assert files == sorted(ENVIRONMENTS)
    for environment in ENVIRONMENTS:
        values = hcl(TERRAFORM / "env" / f"{environment}.tfvars")
        assert required <= set(values), f"{environment}.tfvars lacks {required - set(values)}"
        assert set(values) <= set(declared), f"{environment}.tfvars sets unknown {set(values) - set(declared)}"
        assert values["environment"] == environment
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", values["project_id"])
        assert all(re.fullmatch(r"\d+", export_id) for export_id in values.get("export_ids", []))
        assert not any(SECRET_NAME.search(name) for name in values), "no secrets in tfvars"
    prod = hcl(TERRAFORM / "env" / "prod.tfvars")
    assert prod["deletion_protection"] is True and prod["cloudsql_high_availability"] is True


def test_datasets_match_the_schemas_the_code_and_dbt_write() -> None:
    datasets = tf_locals()["datasets"]
    raw_default = variables()["raw_dataset_id"]["default"]
    names = {raw_default if key == "${(var.raw_dataset_id)}" else key for key in datasets}
    expected = dbt_schemas() | {
        module_constant(REPO / "toast_assets" / "raw" / "warehouse.py", "RAW_SCHEMA"),
        module_constant(REPO / "toast_assets" / "quality" / "weekly.py", "QUALITY_SCHEMA"),
    }
    assert names == expected == {
        "toast_raw",
        "toast_staging",
        "toast_intermediate",
        "toast_marts",
        "toast_reference",
        "toast_quality",
    }
    # The dbt sources fall back to the same raw dataset name as Terraform's default.
    sources = (REPO / "dbt_project" / "models" / "staging" / "toast" / "_toast__sources.yml").read_text()
    assert f"env_var(''TOAST_BQ_RAW_DATASET'', ''{raw_default}'')" in sources
    readable = {key for key, body in datasets.items() if body["readable"]}
    assert readable == {"toast_marts", "toast_reference", "toast_quality"}, "readers see finished tables only"
    (dataset,) = resources("google_bigquery_dataset").values()
    assert "default_partition_expiration_ms" in dataset


def test_lake_bucket_is_private_versioned_with_lifecycle() -> None:
    lake = resources("google_storage_bucket")["lake"]
    assert block(lake, "versioning")["enabled"] is True
    assert lake["public_access_prevention"] == "enforced" and lake["uniform_bucket_level_access"] is True
    rules = lake["lifecycle_rule"]
    classes = {block(rule, "action").get("storage_class") for rule in rules}
    assert {"NEARLINE", "COLDLINE"} <= classes
    assert any(
        "days_since_noncurrent_time" in block(rule, "condition") and block(rule, "action")["type"] == "Delete"
        for rule in rules
    )
    assert "local.lake_bucket_name" in lake["name"]
    assert tf_locals()["lake_url"] == "gs://${local.lake_bucket_name}/${var.lake_prefix}"


def test_service_accounts_have_least_privilege() -> None:
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    for broad in ("roles/owner", "roles/editor", "roles/viewer", "roles/bigquery.admin", "roles/storage.admin", "roles/secretmanager.admin"):
        assert broad not in text, f"{broad} is far more than the platform needs"
    accounts = resources("google_service_account")
    assert set(accounts) == {"pipeline", "dagster", "reader"}
    project_roles = {body["role"] for body in resources("google_project_iam_member").values()}
    assert project_roles == {"roles/bigquery.jobUser"}, "everything else is granted on the resource itself"
    for name, grant in resources("google_secret_manager_secret_iam_member").items():
        assert grant["role"] == "roles/secretmanager.secretAccessor"
        assert grant["member"] == "${google_service_account.pipeline.member}", name
    dataset_writers = resources("google_bigquery_dataset_iam_member")
    assert dataset_writers["pipeline_writes"]["role"] == "roles/bigquery.dataEditor"
    assert dataset_writers["readers"]["role"] == "roles/bigquery.dataViewer"


def test_secrets_registry_and_cloud_sql_are_production_grade() -> None:
    secrets = resources("google_secret_manager_secret")
    assert {"sftp_private_key", "sftp_known_hosts", "dagster_pg_password"} <= set(secrets)
    versions = resources("google_secret_manager_secret_version")
    assert set(versions) == {"dagster_pg_password"}, "the SFTP key's value never passes through Terraform"

    (registry,) = resources("google_artifact_registry_repository").values()
    assert registry["format"] == "DOCKER"

    (sql,) = resources("google_sql_database_instance").values()
    assert sql["database_version"] == "POSTGRES_15"
    settings = block(sql, "settings")
    backups = block(settings, "backup_configuration")
    assert backups["enabled"] is True and backups["point_in_time_recovery_enabled"] is True
    network = block(settings, "ip_configuration")
    assert network["ipv4_enabled"] is False and network["ssl_mode"] == "ENCRYPTED_ONLY"
    (user,) = resources("google_sql_user").values()
    (database,) = resources("google_sql_database").values()
    values = helm_values()["postgresql"]
    assert user["name"] == values["postgresqlUsername"] and database["name"] == values["postgresqlDatabase"]


# ---------------------------------------------------------------------------- settings


def test_every_toast_setting_in_deploy_files_is_read_by_the_code() -> None:
    """A TOAST_* name in a deploy file that no code reads is a typo or a stale setting: it
    would be set and silently ignored. Names ending in `_` are prefixes (TOAST_ARRIVAL_*)."""
    known = settings_the_code_reads()
    checked = 0
    files = [path for path in DEPLOY.rglob("*") if path.is_file() and ".terraform" not in path.parts]
    for path in files:
        for name in set(re.findall(r"TOAST_[A-Z0-9_]+", path.read_text())):
            checked += 1
            if name.endswith("_"):
                assert any(k.startswith(name) for k in known), f"{path.relative_to(REPO)}: no setting starts with {name}"
            else:
                assert name in known, f"{path.relative_to(REPO)} sets {name}, which no code reads"
    assert checked > 20
    assert set(tf_locals()["platform_settings"]) <= known
    assert "gcp_backends_enabled" not in variables(), "the GCS lake and BigQuery are the production backends"


# ---------------------------------------------------------------------------- the backends


def _tf_value(expression: Any, tfvars: dict[str, Any]) -> str:
    """One value of Terraform's settings for an environment: the few expressions outputs.tf
    and main.tf use, evaluated with the environment's tfvars and the variables' defaults."""
    declared = variables()

    def var(name: str) -> Any:
        return tfvars[name] if name in tfvars else declared[name]["default"]

    default_bucket = '${var.lake_bucket_name != "" ? var.lake_bucket_name : "${var.project_id}-toast-lake"}'
    assert tf_locals()["lake_bucket_name"] == default_bucket
    bucket = var("lake_bucket_name") or f"{var('project_id')}-toast-lake"
    text = str(expression)
    match = re.fullmatch(r"\$\{(.*)\}", text)
    if not match:
        return text
    body = match.group(1)
    if body == "local.lake_url":
        assert tf_locals()["lake_url"] == "gs://${local.lake_bucket_name}/${var.lake_prefix}"
        return f"gs://{bucket}/{var('lake_prefix')}"
    if found := re.fullmatch(r"(?:tostring\()?var\.(\w+)\)?", body):
        return str(var(found.group(1)))
    if found := re.fullmatch(r'join\("([^"]*)", var\.(\w+)\)', body):
        return found.group(1).join(var(found.group(2)))
    raise AssertionError(f"teach _tf_value the expression {text}")


def _terraform_settings(environment: str) -> dict[str, str]:
    tfvars = hcl(TERRAFORM / "env" / f"{environment}.tfvars")
    return {name: _tf_value(value, tfvars) for name, value in tf_locals()["platform_settings"].items()}


def _with_sftp_files(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The deploy's env with the SFTP key and known_hosts at paths that exist here."""
    key, known_hosts = tmp_path / "key", tmp_path / "known_hosts"
    key.write_text("not a key: settings only checks the file exists\n")
    known_hosts.write_text("sftp.example ssh-ed25519 AAAA\n")
    return {**env, "TOAST_SFTP_PRIVATE_KEY_PATH": str(key), "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts)}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_terraform_settings_load_as_the_gcs_lake_and_bigquery(environment: str, tmp_path: Path) -> None:
    """What `terraform output toast_settings_env` hands the platform, through the code's own
    settings loader: the lake is the bucket Terraform makes, the warehouse the project and
    raw dataset it makes, and dbt's target is BigQuery's."""
    from toast_assets.settings import DBT_TARGET_OF_WAREHOUSE, load_config, warehouse_name

    settings = _terraform_settings(environment)
    tfvars = hcl(TERRAFORM / "env" / f"{environment}.tfvars")
    assert "TOAST_DBT_TARGET" not in settings, "dbt's target follows TOAST_WAREHOUSE"
    config = load_config(_with_sftp_files(settings, tmp_path))

    assert config.warehouse == "bigquery" and warehouse_name(settings) == "bigquery"
    assert DBT_TARGET_OF_WAREHOUSE[config.warehouse] == "bigquery"
    assert config.lake_gcs is not None, "the lake is the GCS bucket"
    assert config.lake_gcs.bucket == (tfvars.get("lake_bucket_name") or f"{tfvars['project_id']}-toast-lake")
    assert config.lake_gcs.prefix == tfvars.get("lake_prefix", variables()["lake_prefix"]["default"])
    assert config.lake_gcs.keyfile is None and config.bigquery is not None and config.bigquery.keyfile is None, (
        "production credentials are Workload Identity or the VM's service account, never a key file"
    )
    assert config.bigquery.project == tfvars["project_id"]
    assert config.bigquery.raw_dataset == tfvars.get("raw_dataset_id", variables()["raw_dataset_id"]["default"])
    assert config.bigquery.location == tfvars.get("bigquery_location", variables()["bigquery_location"]["default"])
    assert config.bigquery.api_endpoint is None
    # Not DuckDB's default, which follows the node's cores past the run pods' memory request.
    assert config.duckdb_memory_limit is not None
    assert config.duckdb_memory_limit == tfvars.get("duckdb_memory_limit", variables()["duckdb_memory_limit"]["default"])


def test_compose_and_helm_settings_load_as_the_gcs_lake_and_bigquery(tmp_path: Path) -> None:
    """The code server's effective environment on each path, through the settings loader."""
    from toast_assets.settings import load_config

    terraform_settings = _terraform_settings("prod")

    # Compose: ${NAME:-default} takes the default, ${NAME:?...} the value deploy/.env must give.
    def resolve(value: Any) -> str:
        def one(match: re.Match[str]) -> str:
            name, kind, rest = match.group(1), match.group(2), match.group(3)
            if kind == ":-":
                return rest
            return terraform_settings.get(name, f"required-{name.lower()}")

        return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, str(value))

    compose_env = {k: resolve(v) for k, v in compose()["services"]["code-server"]["environment"].items()}
    config = load_config(_with_sftp_files(compose_env, tmp_path))
    assert config.warehouse == "bigquery" and config.lake_gcs is not None
    assert config.lake_url == terraform_settings["TOAST_LAKE_URL"]

    # Helm: the ConfigMap (Terraform's settings) under the deployment's own env entries, which
    # must not name a backend (a Kubernetes `env` entry wins over envFrom).
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    helm_env = {item["name"]: item["value"] for item in deployment["env"]}
    assert not set(helm_env) & set(BACKEND_SETTINGS), set(helm_env) & set(BACKEND_SETTINGS)
    config = load_config(_with_sftp_files({**terraform_settings, **helm_env}, tmp_path))
    assert config.warehouse == "bigquery" and config.lake_gcs is not None


def test_helm_runs_have_no_data_volume() -> None:
    values = helm_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert all("secret" in volume for volume in deployment["volumes"]), "only the SFTP Secret is mounted"
    assert not any(mount["mountPath"] == "/data" for mount in deployment["volumeMounts"])
    assert not [m for m in values.get("extraManifests", []) if m["kind"] == "PersistentVolumeClaim"]
    # DuckDB's scratch parse file and the staged downloads live on the pod's ephemeral disk.
    resources = deployment["resources"]
    assert resources["requests"]["ephemeral-storage"] == resources["limits"]["ephemeral-storage"]


def test_the_image_chooses_no_backend_and_packages_the_bigquery_manifest() -> None:
    from toast_assets.settings import DBT_TARGET_OF_WAREHOUSE

    instructions, _ = dockerfile()
    runtime_stage = max(i.stage for i in instructions)
    runtime_env = " ".join(i.args for i in instructions if i.stage == runtime_stage and i.keyword == "ENV")
    for name in ("TOAST_LAKE_URL", "TOAST_WAREHOUSE", "TOAST_DBT_TARGET", "TOAST_GCP_PROJECT"):
        assert f"{name}=" not in runtime_env, f"the image must not default {name}: the deployment chooses"
    # A baked TOAST_DBT_TARGET=duckdb would make the code refuse TOAST_WAREHOUSE=bigquery.
    build_stage = runtime_stage - 1
    (target_arg,) = [
        i.args
        for i in instructions
        if i.stage == build_stage and i.keyword == "ARG" and i.args.startswith("TOAST_DBT_TARGET=")
    ]
    assert target_arg == f"TOAST_DBT_TARGET={DBT_TARGET_OF_WAREHOUSE['bigquery']}"
    assert not any(i.keyword == "VOLUME" for i in instructions), "no anonymous /data volume on the BigQuery path"


def test_pipeline_grants_cover_what_the_bigquery_warehouse_does() -> None:
    """toast_assets/raw/bigquery_warehouse.py: Parquet files in the lake under `_loads/`, load
    jobs reading them with the pipeline's credentials into staging tables of the raw dataset,
    MERGEs in one session transaction; dbt and the quality checks write their datasets."""
    pipeline = "${google_service_account.pipeline.member}"

    # Jobs (queries, loads, sessions) are a project permission: the pipeline has jobUser.
    assert "google_service_account.pipeline.member" in tf_locals()["job_users"]
    job_users = resources("google_project_iam_member")["bigquery_job_users"]
    assert job_users["role"] == "roles/bigquery.jobUser" and job_users["for_each"] == "${local.job_users}"

    # dataEditor on every dataset Terraform makes (raw: tables, staging tables, schema
    # updates, MERGE; the dbt datasets; quality), and nothing that could re-share or drop one.
    writes = resources("google_bigquery_dataset_iam_member")["pipeline_writes"]
    assert writes["for_each"] == "${google_bigquery_dataset.toast}" and writes["member"] == pipeline
    assert writes["role"] == "roles/bigquery.dataEditor"
    datasets = set(tf_locals()["datasets"])
    assert "${(var.raw_dataset_id)}" in datasets
    assert {"toast_staging", "toast_intermediate", "toast_marts", "toast_reference", "toast_quality"} <= datasets
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    assert "roles/bigquery.dataOwner" not in text and "roles/bigquery.user\"" not in text
    assert "google_service_account_key" not in text, "no key file: Workload Identity or the VM's account"

    # The lake bucket: objects (landing, _versions/, _loads/, read by the load jobs) and the
    # bucket metadata a load from Cloud Storage checks.
    lake_grants = {
        body["role"] for body in resources("google_storage_bucket_iam_member").values()
        if body["bucket"] == "${google_storage_bucket.lake.name}" and body["member"] == pipeline
    }  # fmt: skip
    assert lake_grants == {"roles/storage.objectAdmin", "roles/storage.legacyBucketReader"}

    # The load files expire: the lifecycle rule covers the prefix the code writes them under.
    loads = module_constant(REPO / "toast_assets" / "raw" / "bigquery_warehouse.py", "LOADS_PREFIX")
    lake = resources("google_storage_bucket")["lake"]
    assert any(
        block(rule, "condition").get("matches_prefix") == [f"${{var.lake_prefix}}/{loads}/"]
        and block(rule, "action")["type"] == "Delete"
        for rule in lake["lifecycle_rule"]
    ), f"no lifecycle rule deletes <prefix>/{loads}/"

    apis = resources("google_project_service")["apis"]["for_each"]
    assert "bigquery.googleapis.com" in apis and "storage.googleapis.com" in apis


def _bucket_in_bigquery_location(region: str, location: str) -> bool:
    """The rule storage.tf's precondition states: BigQuery loads from a bucket in its location."""
    region, location = region.lower(), location.lower()
    return (
        region == location
        or (location == "us" and region.startswith("us-"))
        or (location == "eu" and region.startswith("europe-"))
    )


def test_lake_bucket_is_in_the_datasets_location_in_every_environment() -> None:
    (precondition,) = block(resources("google_storage_bucket")["lake"], "lifecycle")["precondition"]
    for part in ("var.bigquery_location", "var.region", '"US"', '"us-"', '"EU"', '"europe-"'):
        assert part in precondition["condition"], part
    declared = variables()
    for environment in ENVIRONMENTS:
        tfvars = hcl(TERRAFORM / "env" / f"{environment}.tfvars")
        region = tfvars.get("region", declared["region"]["default"])
        location = tfvars.get("bigquery_location", declared["bigquery_location"]["default"])
        assert _bucket_in_bigquery_location(region, location), (environment, region, location)


def test_run_queue_takes_four_runs_and_one_warehouse_writer() -> None:
    """Four runs at once (BigQuery takes concurrent readers and loads of different dates), but
    one run per business date and one warehouse-writing run: two transactions on the same raw
    tables conflict. The tag is the one the code puts on its writing jobs."""
    config = instance_yaml()["run_coordinator"]["config"]
    assert config["max_concurrent_runs"] == 4
    limits = {limit["key"]: limit for limit in config["tag_concurrency_limits"]}
    (tag,) = module_constant(REPO / "toast_assets" / "raw" / "warehouse.py", "WAREHOUSE_WRITE_TAGS")
    assert limits[tag] == {"key": tag, "limit": 1}
    assert limits["dagster/partition"]["limit"] == 1
    queued = helm_values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == 4
    assert {"key": tag, "limit": 1} in queued["tagConcurrencyLimits"]


# ---------------------------------------------------------------------------- deploy/README.md


def test_readme_describes_this_deployment() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "not implemented" not in readme.lower()
    assert "gcp_backends_enabled" not in readme
    outputs = {name for block in terraform()["output"] for name in block}
    for name in re.findall(r"terraform(?: -chdir=\S+)? output (?:-raw )?([a-z_]+)", readme):
        assert name in outputs, f"deploy/README.md uses `terraform output {name}`, which Terraform does not declare"
    for test_file in set(re.findall(r"tests/test_\w+\.py", readme)):
        assert (REPO / test_file).is_file(), f"deploy/README.md cites {test_file}, which does not exist"
    for needed in ("tests/test_lake_gcs.py", "tests/test_warehouse_bigquery.py", "fake-gcs-server", "bqemulator"):
        assert needed in readme, needed
