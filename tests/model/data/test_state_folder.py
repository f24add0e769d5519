"""The dataset's `.maskloop/` state folder is an output: MaskLoop writes recovery files and
checkpoints there on its own, so a link in a shared dataset must not send them elsewhere."""
from __future__ import annotations

import os

import pytest

from model.data.state_folder import state_folder
from model.effort.store import effort_file


@pytest.fixture
def user_state(tmp_path, monkeypatch):
    home = tmp_path / "user-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home / "maskloop"


def test_a_plain_state_folder_is_used_as_it_is(tmp_path, user_state):
    assert state_folder(tmp_path) == (tmp_path / ".maskloop", None)
    (tmp_path / ".maskloop" / "runs" / "r1").mkdir(parents=True)
    assert state_folder(tmp_path) == (tmp_path / ".maskloop", None)


@pytest.mark.parametrize("link", [".maskloop", ".maskloop/runs",
                                  ".maskloop/data.recovery.json"])
def test_a_link_in_the_state_folder_sends_the_state_to_the_users_own(tmp_path, user_state,
                                                                       link):
    data, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (data / ".maskloop").mkdir(parents=True)
    if link == ".maskloop":
        (data / ".maskloop").rmdir()
    os.symlink(outside, data / link)
    folder, warning = state_folder(data)
    assert folder.parent == user_state and folder.name.startswith("data-")
    assert warning.startswith(f"{data / link} is a link (to {outside})") and str(folder) in warning
    assert state_folder(data) == (folder, warning)  # the same place at every open
    assert effort_file(data / "d.json") == folder / "d.effort.json"
    other = tmp_path / "other" / "data"  # another dataset of the same name: its own folder
    other.mkdir(parents=True)
    os.symlink(outside, other / ".maskloop")
    assert state_folder(other)[0] != folder


def test_a_file_named_like_the_state_folder_is_not_written_through(tmp_path, user_state):
    (tmp_path / ".maskloop").write_text("not a folder")
    folder, warning = state_folder(tmp_path)
    assert folder.parent == user_state and "is not a folder" in warning


def test_a_relative_state_home_is_ignored_as_the_xdg_rule_says(tmp_path, monkeypatch):
    """A relative XDG_STATE_HOME would move the state with the working folder."""
    monkeypatch.setenv("XDG_STATE_HOME", "relstate")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    os.symlink(tmp_path, tmp_path / ".maskloop")
    folder, warning = state_folder(tmp_path)
    assert folder.parent == tmp_path / "home" / ".local" / "state" / "maskloop"
    assert "effort record" in warning
