"""The model catalogue file: complete for upstream's models, strictly loaded."""

from __future__ import annotations

import json

import pytest

from engine.errors import CheckpointError
from engine.models.catalogue import catalogue_path, default_set_for, load_catalogue

UPSTREAM_DITS = {
    "acestep-v15-turbo", "acestep-v15-turbo-shift1", "acestep-v15-turbo-shift3",
    "acestep-v15-turbo-continuous", "acestep-v15-sft", "acestep-v15-base",
    "acestep-v15-xl-turbo", "acestep-v15-xl-sft", "acestep-v15-xl-base",
}


def test_catalogue_covers_every_upstream_model():
    cat = load_catalogue()
    names = set(cat.names())
    assert UPSTREAM_DITS <= names
    assert {"acestep-5Hz-lm-0.6B", "acestep-5Hz-lm-1.7B", "acestep-5Hz-lm-4B", "vae", "Qwen3-Embedding-0.6B"} <= names
    assert any(e.layout == "diffusers" for e in cat.entries)
    for entry in cat.entries:
        assert entry.repo_id.startswith("ACE-Step/")
        assert entry.revision and entry.purpose and entry.tasks and entry.memory_bytes > 0
        assert entry.files


def test_catalogue_facts_from_the_reference():
    cat = load_catalogue()
    turbo = cat.get("acestep-v15-turbo")
    assert (turbo.repo_id, turbo.repo_folder) == ("ACE-Step/Ace-Step1.5", "acestep-v15-turbo")
    sizes = {f.path: f.size for f in turbo.files}
    assert sizes["model.safetensors"] == 4_787_825_604
    vae = cat.get("VAE")  # names are case-insensitive
    assert {f.path: f.size for f in vae.files}["diffusion_pytorch_model.safetensors"] == 337_431_388
    assert cat.get("acestep-v15-sft").repo_id == "ACE-Step/acestep-v15-sft"
    assert cat.get("acestep-v15-sft").repo_folder == ""
    assert "extract" in cat.get("acestep-v15-base").tasks and "extract" not in turbo.tasks
    assert not any(f.path.endswith(".py") for e in cat.entries for f in e.files)  # no remote code


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(CheckpointError, match="unknown model 'nope'.*acestep-v15-turbo"):
        load_catalogue().get("nope")


def test_default_set_follows_the_tier():
    cat = load_catalogue()
    cpu = [e.name for e in default_set_for(cat, None, False)]
    assert sorted(cpu) == sorted(["acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B"])
    big = [e.name for e in default_set_for(cat, "4B", True)]
    assert "acestep-5Hz-lm-4B" in big and len(big) == 4


def test_catalogue_is_found_without_the_environment(monkeypatch):
    monkeypatch.delenv("LEGATO_CATALOGUE", raising=False)
    assert catalogue_path().name == "catalogue.json" and catalogue_path().is_file()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.update(kind="weird"), "kind 'weird'"),
        (lambda m: m.update(repo_id="noslash"), "repo_id"),
        (lambda m: m["files"].append({"path": "../escape", "size": 1}), "inside the model folder"),
        (lambda m: m.update(memory_bytes=-1), "memory_bytes"),
        (lambda m: m.update(name="../x"), "plain folder name"),
    ],
)
def test_malformed_entries_name_the_entry(tmp_path, mutate, message):
    data = json.loads(catalogue_path().read_text())
    mutate(data["models"][0])
    bad = tmp_path / "catalogue.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=message) as info:
        load_catalogue(bad)
    assert str(bad) in str(info.value)


def test_duplicate_and_garbage_files(tmp_path):
    data = json.loads(catalogue_path().read_text())
    data["models"].append(dict(data["models"][0]))
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="appear twice"):
        load_catalogue(dup)
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_catalogue(junk)


@pytest.mark.parametrize("vram_gb, expected_lm", [
    (4, None), (6, None), (8, "acestep-5Hz-lm-0.6B"), (12, "acestep-5Hz-lm-0.6B"), (16, "acestep-5Hz-lm-1.7B"),
    (20, "acestep-5Hz-lm-1.7B"), (24, "acestep-5Hz-lm-1.7B"), (80, "acestep-5Hz-lm-4B"),
])
def test_default_set_picks_the_planner_lm_of_each_memory_tier(vram_gb, expected_lm):
    """Every tier's recommended planner (0.6B / 1.7B / 4B, upstream_lm_tools.md §7) names a
    catalogue LM, and the default set is the main bundle plus exactly that one."""
    from engine.runtime.memory_tier import tier_for_vram

    cat = load_catalogue()
    tier = tier_for_vram(vram_gb)
    chosen = default_set_for(cat, tier.recommended_lm, tier.init_lm)
    lms = [e.name for e in chosen if e.kind == "lm"]
    assert lms == ([expected_lm] if expected_lm else [])
    assert {"acestep-v15-turbo", "vae", "Qwen3-Embedding-0.6B"} <= {e.name for e in chosen}
    for variant in tier.lms:  # every LM the tier allows is in the catalogue, smaller tiers' first
        assert [e for e in cat.of_kind("lm") if e.variant == variant]
    if expected_lm:  # the recommended planner is one the tier allows, and fits beside the DiT
        assert tier.recommended_lm in tier.lms
        lm = cat.get(expected_lm)
        assert lm.memory_bytes < vram_gb * 1024**3
