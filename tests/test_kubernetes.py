"""``contrib/kubernetes/inbox-agent.yaml``: the StatefulSet example says what the agent needs.

Read, not applied (no cluster here): one shard config per pod, each valid for the real config
loader, with mailboxes no two shards share (by the claims' own idea of one mailbox); a command
line the real CLI parser accepts for every pod; data_dir on the pod's own volume; passwords
from the Secret; and the pod hardened, given time to stop, and not killed by a probe.
"""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from inbox_agent import cli, config
from inbox_agent.adapters import claims
from inbox_agent.daemon import STOP_GRACE_SECONDS

MANIFEST = Path(__file__).resolve().parents[1] / "contrib" / "kubernetes" / "inbox-agent.yaml"


def _kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    """Every document of the manifest."""
    return [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def pod(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The StatefulSet's pod spec."""
    spec: dict[str, Any] = _kind(documents, "StatefulSet")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    """The one container."""
    (only,) = pod["containers"]
    return only  # type: ignore[no-any-return]


def _pod_names(documents: list[dict[str, Any]]) -> list[str]:
    statefulset = _kind(documents, "StatefulSet")
    name, replicas = statefulset["metadata"]["name"], statefulset["spec"]["replicas"]
    return [f"{name}-{ordinal}" for ordinal in range(replicas)]


def _config_path(container: dict[str, Any], pod_name: str) -> PurePosixPath:
    """The pod's ``--config``, with ``$(POD_NAME)`` expanded as the kubelet does, read by the
    real CLI parser; it runs the daemon (not --once, not --dry-run)."""
    (field,) = [e for e in container["env"] if e["name"] == "POD_NAME"]
    assert field["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    line = [*container["command"], *container["args"]]
    assert line[0] == "inbox-agent"
    args = cli._parser().parse_args([a.replace("$(POD_NAME)", pod_name) for a in line[1:]])
    assert (args.command, args.once, args.dry_run) == ("run", False, False), shlex.join(line)
    return PurePosixPath(args.config)


def _mounts(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there (a pod volume, or a claim template's name)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {
        m["mountPath"]: {
            **volumes.get(m["name"], {"claim": m["name"]}),
            "readOnly": m.get("readOnly", False),
        }
        for m in container["volumeMounts"]
    }


@pytest.fixture(scope="module")
def shards(
    documents: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any]
) -> dict[str, config.Settings]:
    """Pod name -> its config from the ConfigMap, as the real loader reads it at its path."""
    found = {}
    for pod_name in _pod_names(documents):
        path = _config_path(container, pod_name)
        volume = _mounts(pod, container)[str(path.parent)]
        (configmap,) = [
            d
            for d in documents
            if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]
        ]
        assert path.name in configmap["data"], f"pod {pod_name} finds no config {path}"
        found[pod_name] = config.parse(configmap["data"][path.name], Path(path))
    return found


def test_one_config_per_pod_and_no_config_left_over(
    documents: list[dict[str, Any]], shards: dict[str, config.Settings]
) -> None:
    """replicas is the number of shards: each pod finds its config, and every config in the
    ConfigMap is some pod's."""
    (configmap,) = [d for d in documents if d["metadata"]["name"] == "inbox-agent-shards"]
    assert sorted(configmap["data"]) == sorted(f"{name}.toml" for name in shards)
    assert len(shards) >= 2


def test_no_mailbox_is_in_two_shards(shards: dict[str, config.Settings]) -> None:
    """Pods cannot see each other's claims (a network namespace each): the configs keep the
    mailboxes disjoint, compared as the claims compare them (server, login, folder)."""
    owner: dict[bytes, str] = {}
    for pod_name, settings in shards.items():
        for mailbox in settings.mailboxes:
            name = claims.claim_name(mailbox)
            assert name not in owner, f"{mailbox.name} in {pod_name} and {owner[name]}"
            owner[name] = pod_name
    assert any(len(s.mailboxes) > 1 for s in shards.values())  # one process, many mailboxes


def test_data_dir_is_on_the_pods_own_volume(
    pod: dict[str, Any],
    container: dict[str, Any],
    documents: list[dict[str, Any]],
    shards: dict[str, config.Settings],
) -> None:
    """data_dir is a folder inside the volume claim template's mount (writable, the pod's own,
    kept across restarts), not its root (the group's, by fsGroup); templates_dir is the
    templates ConfigMap's mount."""
    mounts = _mounts(pod, container)
    claimed = {
        t["metadata"]["name"]
        for t in _kind(documents, "StatefulSet")["spec"]["volumeClaimTemplates"]
    }
    for settings in shards.values():
        data_dir = PurePosixPath(settings.agent.data_dir)
        (mount,) = [m for m in mounts if data_dir.is_relative_to(m)]
        assert mounts[mount].get("claim") in claimed
        assert not mounts[mount]["readOnly"]
        assert data_dir != PurePosixPath(mount)
        templates = mounts[str(settings.agent.templates_dir)]
        assert templates["configMap"]["name"] == "inbox-agent-templates"


def test_the_passwords_come_from_the_secret(
    documents: list[dict[str, Any]], container: dict[str, Any], shards: dict[str, config.Settings]
) -> None:
    """Every variable a config's password_env names is a key of the Secret the container takes
    its environment from; no password is in a config."""
    (source,) = container["envFrom"]
    secret = _kind(documents, "Secret")
    assert source["secretRef"]["name"] == secret["metadata"]["name"]
    named = {
        server.password_env
        for s in shards.values()
        for m in s.mailboxes
        for server in (m.imap, m.smtp)
    }
    assert named == set(secret["stringData"])


def test_the_pod_is_hardened(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """Not root, no privilege to gain, a read-only root file system, no capabilities, no
    service-account token; the volume made the agent's group's."""
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert pod["automountServiceAccountToken"] is False
    own = container["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]


def test_kubernetes_waits_longer_than_the_daemon_takes_to_stop_and_no_probe_kills_it(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    """SIGKILL comes after the daemon's stop grace; no liveness probe restarts a slow cycle."""
    assert pod["terminationGracePeriodSeconds"] > STOP_GRACE_SECONDS
    assert "livenessProbe" not in container
