"""The one rule for finding the checkpoints folder, shared by the app and every CLI subcommand."""

from __future__ import annotations

import pytest

from engine.models.locations import (
    ENV_ACESTEP,
    ENV_LEGATO,
    SOURCE_APP_DIR,
    SOURCE_CWD,
    SOURCE_EXPLICIT,
    SOURCE_SETTING,
    app_models_dir,
    resolve_checkpoints,
)
from engine.settings import Settings, load_settings, save_settings, settings_path


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LEGATO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LEGATO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(ENV_LEGATO, raising=False)
    monkeypatch.delenv(ENV_ACESTEP, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_source_wins_over_the_ones_below_it(clean_env, monkeypatch):
    tmp = clean_env
    # 7: nothing exists -> the app's models folder (where downloads go)
    assert resolve_checkpoints().path == app_models_dir() and resolve_checkpoints().source == SOURCE_APP_DIR
    # 6: ./checkpoints when it exists
    (tmp / "checkpoints").mkdir()
    assert resolve_checkpoints().source == SOURCE_CWD
    assert resolve_checkpoints().path == tmp / "checkpoints"
    # 5: the app's folder, once it exists, beats ./checkpoints
    app_models_dir().mkdir(parents=True)
    assert resolve_checkpoints().source == SOURCE_APP_DIR
    # 4, 3: upstream's variable, then ours
    monkeypatch.setenv(ENV_ACESTEP, str(tmp / "ace"))
    assert resolve_checkpoints().path == tmp / "ace"
    monkeypatch.setenv(ENV_LEGATO, str(tmp / "ours"))
    assert resolve_checkpoints().path == tmp / "ours" and resolve_checkpoints().source == ENV_LEGATO
    # 2: the saved setting
    save_settings(Settings(checkpoints=str(tmp / "chosen")))
    assert resolve_checkpoints().path == tmp / "chosen" and resolve_checkpoints().source == SOURCE_SETTING
    # 1: an explicit folder
    loc = resolve_checkpoints(tmp / "flag")
    assert loc.path == tmp / "flag" and loc.source == SOURCE_EXPLICIT


def test_settings_round_trip_keeps_unknown_keys(clean_env):
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"checkpoints": "/x", "from_the_future": [1, 2]}')
    s = load_settings()
    assert s.checkpoints == "/x" and s.extra == {"from_the_future": [1, 2]}
    save_settings(s.with_changes(device="cpu"))
    again = load_settings()
    assert again.device == "cpu" and again.checkpoints == "/x" and again.extra == {"from_the_future": [1, 2]}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"checkpoints": 5}', "\udc80"])
def test_a_corrupt_settings_file_means_defaults(clean_env, content):
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert load_settings().checkpoints == ""


def test_every_subcommand_has_the_same_checkpoints_default():
    from engine.cli import build_parser

    parser = build_parser()
    for argv in (["generate", "--caption", "x"], ["plan", "think"], ["plan", "simple", "--description", "x"],
                 ["plan", "format"], ["plan", "understand"]):
        args = parser.parse_args(argv)
        assert args.checkpoints is None, argv  # None: engine.models.locations decides
    assert parser.parse_args(["models", "list"]).checkpoints is None


def test_models_list_uses_the_setting(clean_env, tiny_checkpoints, capsys):
    from engine.cli import main

    save_settings(Settings(checkpoints=str(tiny_checkpoints)))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tiny_checkpoints) in out and "settings" in out and "acestep-v15-turbo" in out


def test_crossfade_setting_round_trips_and_a_bad_value_falls_back_to_50_ms(tmp_path):
    from engine.settings import Settings, load_settings, save_settings

    path = tmp_path / "settings.json"
    assert Settings().crossfade_frames() == 2400
    save_settings(Settings(crossfade_ms="20"), path)
    assert load_settings(path).crossfade_frames() == 960
    for bad in ("nan", "-5", "9999", "fast"):
        assert Settings(crossfade_ms=bad).crossfade_frames() == 2400
