"""Where adapters live and how to find them: the app's LoRA folder and a folder scan."""

from __future__ import annotations

from pathlib import Path

from engine.lora.formats import CONFIG_FILE

SCAN_DEPTH = 3  # folders below the root that are searched (lora_output/final/adapter is 2 deep)


def default_lora_dir() -> Path:
    """The app's own adapters folder (`<data dir>/loras`); trained adapters are exported here."""
    from engine.settings import data_dir

    return data_dir() / "loras"


def find_adapters(root: str | Path) -> list[Path]:
    """Adapter folders (with adapter_config.json) and single .safetensors files under `root`.

    Never follows a link out of `root`: only paths whose resolved location stays inside it count.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    top = root.resolve()
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / CONFIG_FILE).is_file():
            found.append(folder)
            return
        for entry in sorted(folder.iterdir()):
            try:
                if not entry.resolve().is_relative_to(top):
                    continue
            except OSError:
                continue
            if entry.is_file() and entry.suffix.lower() == ".safetensors":
                found.append(entry)
            elif entry.is_dir() and depth < SCAN_DEPTH and entry.name not in ("checkpoints", "cache"):
                walk(entry, depth + 1)

    walk(root, 0)
    return found
