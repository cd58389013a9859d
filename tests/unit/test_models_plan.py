"""Models as desired state, planned against canned facts: a declared model that is missing plans its pull,
one that is present plans nothing; prune plans the removal of each undeclared model; update pulls only
where the registry's digest moved; preflight stops before anything changes when the models' disk is
detached, too small, or a model does not exist; a converged Mac reads its models once."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import PyinfraError

from facts.ollama_models import OllamaModels
from private_ollama.desired_state.models import ModelName
from tests.unit.plan import ConvergedMac, plan, planned_commands

DECLARED = ["llama3.2", "nomic-embed-text"]


def pulls(model: str) -> str:
    return f"Ensure the model {ModelName.parse(model).shortest} is on the Mac"


@pytest.fixture
def mac(tmp_path):
    return ConvergedMac(tmp_path / "clients", ollama_models=DECLARED)


def preflight_error(mac) -> str:
    with pytest.raises(PyinfraError) as error:
        plan(mac)
    assert "nothing was changed" in str(error.value)
    return str(error.value)


def test_a_mac_with_its_declared_models_plans_nothing(mac):
    assert plan(mac) == []


def test_the_models_are_read_once_while_planning(mac):
    plan(mac)
    assert len([read for read in mac.reads if read[0] is OllamaModels]) == 1


def test_a_missing_declared_model_plans_its_pull_and_nothing_else(mac):
    del mac.models["nomic-embed-text:latest"]
    commands = planned_commands(mac)
    assert list(commands) == [pulls("nomic-embed-text")]
    [pull] = commands[pulls("nomic-embed-text")]
    assert "_pull" in pull and "nomic-embed-text:latest" in pull and "11434" in pull


def test_before_ollama_answers_every_declared_model_is_a_pull(mac):
    mac.ollama_up = False
    assert plan(mac) == [pulls(model) for model in DECLARED]


def test_prune_removes_each_undeclared_model_by_name(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_models_prune=True)
    for name in ("qwen3:8b", "gemma3:latest"):
        mac.models[name] = {"name": name, "digest": "0" * 64, "size": 1}
    commands = planned_commands(mac)
    assert sorted(commands) == sorted(f"Ensure the model {name} is gone (not in ollama_models)"
                                      for name in ("qwen3:8b", "gemma3:latest"))
    assert commands["Ensure the model qwen3:8b is gone (not in ollama_models)"] == [
        "OLLAMA_HOST=127.0.0.1:11434 /opt/homebrew/bin/ollama rm qwen3:8b"]


def test_without_prune_undeclared_models_stay(mac):
    mac.models["qwen3:8b"] = {"name": "qwen3:8b", "digest": "0" * 64, "size": 1}
    assert plan(mac) == []


def test_update_pulls_only_a_model_whose_digest_moved(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_models_update=True)
    assert plan(mac) == []  # the registry's digests are the installed ones
    mac.registry["llama3.2:latest"] = {**mac.registry["llama3.2:latest"], "digest": "f" * 64}
    assert plan(mac) == [pulls("llama3.2")]


def test_update_with_the_registry_unreachable_leaves_the_models_as_they_are(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_models_update=True)
    mac.registry = {}
    for key in list(mac.models):
        mac.registry[key] = {"status": 0, "digest": None, "size": None}
    assert plan(mac) == []


def test_a_detached_external_disk_fails_preflight(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_models_dir="/Volumes/Models/ollama")
    mac.volume = {"mount": "/", "available": 500_000_000_000}  # /Volumes/Models is only a folder on the internal disk
    message = preflight_error(mac)
    assert "/Volumes/Models, which is not mounted" in message and "attach the disk" in message


def test_an_attached_external_disk_passes(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_models_dir="/Volumes/Models/ollama")
    mac.volume = {"mount": "/Volumes/Models", "available": 500_000_000_000}
    assert plan(mac) == []


def test_models_too_large_for_the_volume_fail_preflight(mac):
    for key in list(mac.models):
        del mac.models[key]
    mac.volume = {"mount": "/", "available": 3_000_000_000}  # 4 GB to pull
    message = preflight_error(mac)
    assert "need 4.0 GB" in message and "3.0 GB free" in message


def test_models_that_fit_the_volume_pass(mac):
    del mac.models["llama3.2:latest"]
    mac.volume = {"mount": "/", "available": 3_000_000_000}  # 2 GB to pull
    assert plan(mac) == [pulls("llama3.2")]


def test_a_model_the_registry_does_not_have_fails_preflight(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=[*DECLARED, "llama9:70b"])
    del mac.registry["llama9:70b"]
    del mac.models["llama9:70b"]
    message = preflight_error(mac)
    assert "llama9:70b is not in the registry" in message and "file does not exist" in message


def test_a_size_the_registry_cannot_tell_is_not_a_failure(mac):
    del mac.models["llama3.2:latest"]
    mac.registry["llama3.2:latest"] = {"status": 0, "digest": None, "size": None}
    assert plan(mac) == [pulls("llama3.2")]


def test_declared_models_become_the_allowlist(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", ollama_models=DECLARED, ollama_allowed_models="declared")
    config = mac.files[mac.layout.haproxy_config].decode()
    assert "(?i:llama3\\.2|llama3\\.2:latest|nomic\\-embed\\-text|nomic\\-embed\\-text:latest)" in config
    assert plan(mac) == []
