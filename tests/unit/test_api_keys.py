"""The API key store and the keys command: a key is shown once and stored only as its
hash, in a file only its owner reads; names are plain; revoking removes one
client; the store is refused where git would track it."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from private_ollama.desired_state.api_keys import KeyStore, KeyStoreError, haproxy_map, key_hash
from tests.admin import admin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / "secrets" / "api-keys.json")


def keys_command(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return admin("keys", *argv, cwd=cwd)


def test_store_keeps_the_hash_never_the_key(store):
    key = store.add("alice")
    assert (key not in store.path.read_text(), store.clients()) == (True, {"alice": key_hash(key)})


def test_store_and_its_folder_are_private(store):
    store.add("alice")
    modes = [stat.S_IMODE(path.stat().st_mode) for path in (store.path, store.path.parent)]
    assert modes == [0o600, 0o700]


def test_key_is_long_random_and_never_shown_by_repr(store):
    key = store.add("alice")
    assert re.fullmatch(r"po_[A-Za-z0-9_-]{43}", str(key)) and str(key) not in repr(key)


@pytest.mark.parametrize("name", ["", "Alice", "al ice", "al'ice", "-alice", "a" * 33, "alice\n"])
def test_client_name_must_be_plain(store, name):
    with pytest.raises(KeyStoreError, match="not a client name"):
        store.add(name)


def test_second_key_for_a_name_is_refused(store):
    store.add("alice")
    with pytest.raises(KeyStoreError, match="already has a key"):
        store.add("alice")


def test_revoke_removes_only_that_client(store):
    keys = {name: store.add(name) for name in ("alice", "bob")}
    store.revoke("alice")
    assert store.clients() == {"bob": key_hash(keys["bob"])}


def test_revoking_an_unknown_client_is_an_error(store):
    store.add("alice")
    with pytest.raises(KeyStoreError, match="no client named 'bob'"):
        store.revoke("bob")


def test_missing_store_says_how_to_make_one(store):
    with pytest.raises(KeyStoreError, match=r"private_ollama keys add NAME"):
        store.clients()


@pytest.mark.parametrize("text", ["not json", "{}", '{"clients": {"alice": {"sha256": "beef"}}}',
                                  '{"clients": {"Bad Name": {"sha256": "' + "0" * 64 + '"}}}'])
def test_malformed_store_is_refused(store, text):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(text)
    with pytest.raises(KeyStoreError):
        store.clients()


def test_haproxy_map_is_one_hash_and_name_per_line_by_name():
    assert haproxy_map({"bob": "b" * 64, "alice": "a" * 64}) == f"{'a' * 64} alice\n{'b' * 64} bob\n"


def test_add_prints_the_key_alone_on_stdout(store):
    run = keys_command("--file", str(store.path), "add", "alice")
    printed = run.stdout.splitlines()
    assert run.returncode == 0 and len(printed) == 1
    assert store.clients() == {"alice": key_hash(printed[0])}


def test_list_prints_names_only(store):
    for name in ("bob", "alice"):
        store.add(name)
    run = keys_command("--file", str(store.path), "list")
    assert (run.returncode, run.stdout) == (0, "alice\nbob\n")


def test_revoke_from_the_command_line(store):
    store.add("alice")
    assert keys_command("--file", str(store.path), "revoke", "alice").returncode == 0
    assert store.clients() == {}


@pytest.mark.parametrize(("ignored", "expected_rc"), [(False, 1), (True, 0)], ids=["tracked", "ignored"])
def test_store_is_refused_where_git_would_track_it(tmp_path, ignored, expected_rc):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/secrets/\n" if ignored else "")
    run = keys_command("--file", str(tmp_path / "secrets" / "api-keys.json"), "add", "alice")
    assert run.returncode == expected_rc
    assert ("would be tracked by git" in run.stderr) == (not ignored)

