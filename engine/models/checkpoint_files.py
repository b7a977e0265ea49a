"""Reading checkpoint files safely: safetensors (single or sharded) and `silence_latent.pt`.

Every failure is a CheckpointError that names the file, so the Models panel / CLI can say exactly
what to re-download. Nothing is unpickled: `.pt` files go through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CheckpointError
from engine.models.config_guard import read_json, read_model_config

if TYPE_CHECKING:  # torch is imported lazily so that listing models stays fast
    import torch

LIST_LIMIT = 12  # names shown in an error before "... and N more"

SINGLE_FILES = ("model.safetensors", "diffusion_pytorch_model.safetensors")
# safetensors itself refuses headers over 100 MB; we check first so a hostile length (2^64-1,
# 2^40) is an error naming the file, not an attempted terabyte read.
MAX_HEADER_BYTES = 100 * 1024 * 1024
# What a weight tensor may be stored as. Integer or bool "weights" cannot be parameters (a
# planted int tensor used to surface as a bare RuntimeError from load_state_dict).
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
INDEX_FILES = ("model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json")


def weight_files(folder: Path) -> list[Path]:
    """The safetensors file(s) holding a folder's weights (a single file, or every shard of an index).

    Raises:
        CheckpointError: when no weights file exists, or an index names a shard that is missing.
    """
    folder = Path(folder)
    for name in SINGLE_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            weight_map = read_json(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CheckpointError(f"{index}: has no 'weight_map'")
            names = sorted({str(shard) for shard in weight_map.values()})
            bad = [n for n in names if not _plain_file_name(n)]
            if bad:
                # A '../x' or '/abs' shard would load weights from outside the checkpoint folder.
                raise CheckpointError(
                    f"{index}: shard names must be plain file names inside {folder}; got {short_list(bad)}"
                )
            shards = [folder / shard for shard in names]
            missing = [str(s) for s in shards if not s.is_file()]
            if missing:
                raise CheckpointError(f"missing shard file(s) named by {index}: {', '.join(missing)}")
            return shards
    if any(folder.glob("*.bin")):
        raise CheckpointError(f"{folder}: only pickled .bin weights found; Legato loads safetensors only")
    raise CheckpointError(
        f"missing weights in {folder}: expected one of {', '.join(SINGLE_FILES + INDEX_FILES)}"
    )


def _plain_file_name(name: str) -> bool:
    """A bare file name: no folder part, not absolute, not '.' or '..', no NUL."""
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not Path(name).is_absolute()
        and Path(name).name == name
    )


def read_safetensors(files: list[Path], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Load every tensor of the given safetensors files into one dict (optionally cast to `dtype`).

    Raises:
        CheckpointError: naming the file when it is truncated, corrupt, or a key repeats across shards.
    """
    from safetensors import SafetensorError, safe_open

    tensors: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            check_safetensors_complete(path)  # header sane before safetensors allocates anything
            check_float_weights(path)
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    if key in tensors:
                        raise CheckpointError(f"{path}: tensor {key!r} appears in more than one shard")
                    tensor = handle.get_tensor(key)
                    if dtype is not None and tensor.is_floating_point():
                        tensor = tensor.to(dtype)
                    tensors[key] = tensor
        except CheckpointError:
            raise
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: unreadable or truncated safetensors file ({exc}); re-download it"
            ) from exc
    return tensors


def read_safetensors_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Key -> shape of one safetensors file, reading only the header (cheap integrity check)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: unreadable or truncated safetensors file ({exc}); re-download it"
        ) from exc


def read_header(path: Path) -> dict:
    """The JSON header of a safetensors file (see `_read_header`)."""
    return _read_header(path)[1]


def _read_header(path: Path) -> tuple[int, dict]:
    """(header length, JSON header) of a safetensors file of a safetensors file, checked before anything is allocated for it.

    Raises:
        CheckpointError: naming the file when the length is absurd, the header is not a JSON
            object of {name: {dtype, shape, data_offsets}}, or shapes and offsets disagree.
    """
    import json
    import struct

    path = Path(path)
    bad = f"{path}: unreadable or corrupt safetensors file"
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{bad} (shorter than 8 bytes); re-download it")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise CheckpointError(
                    f"{bad} (header length {header_len} is larger than the file or 100 MB); re-download it"
                )
            header = json.loads(handle.read(header_len))
    except CheckpointError:
        raise
    except (OSError, struct.error, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{bad} ({str(exc)[:200]}); re-download it") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{bad} (header is a JSON {type(header).__name__}, not an object)")
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        _check_entry(path, key, entry)
    return header_len, header


def _counts(values) -> bool:
    """A JSON list of non-negative whole numbers (bools excluded)."""
    return isinstance(values, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    )


def _check_entry(path: Path, key: str, entry) -> None:
    """One tensor's header entry: known dtype, non-negative shape, offsets matching the shape."""
    bad = f"{path}: tensor {key[:80]!r} has a corrupt header entry"
    if not isinstance(entry, dict):
        raise CheckpointError(bad)
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPE_BYTES:
        raise CheckpointError(f"{bad} (unknown dtype {str(dtype)[:20]!r})")
    if not _counts(shape) or len(shape) > 8 or not _counts(offsets) or len(offsets) != 2:
        raise CheckpointError(f"{bad} (shape {str(shape)[:60]}, offsets {str(offsets)[:60]})")
    count = 1
    for dim in shape:
        count *= dim
    if offsets[1] < offsets[0] or offsets[1] - offsets[0] != count * _DTYPE_BYTES[dtype]:
        raise CheckpointError(f"{bad} (shape {shape} does not match its {offsets[1] - offsets[0]} bytes)")


def check_safetensors_complete(path: Path) -> None:
    """Raise if the header is corrupt or the file is shorter than its header says (a truncated download)."""
    path = Path(path)
    header_len, header = _read_header(path)
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    expected = 8 + header_len + end
    actual = path.stat().st_size
    if actual < expected:
        raise CheckpointError(
            f"{path}: truncated ({actual} bytes, header promises {expected}); re-download it"
        )


def check_float_weights(path: Path) -> None:
    """Every tensor of a weights file is floating point (weights are never ints or bools)."""
    bad = [
        f"{key} ({entry['dtype']})"
        for key, entry in read_header(path).items()
        if key != "__metadata__" and entry["dtype"] not in FLOAT_DTYPES
    ]
    if bad:
        raise CheckpointError(f"{path}: weights must be floating point; found {short_list(bad)}")


def read_silence_latent(path: Path, latent_dim: int) -> torch.Tensor:
    """Load `silence_latent.pt` ([1, C, Ls] as upstream stores it) as time-major [1, Ls, C] float32.

    Upstream loads it and transposes to frames x channels (upstream_dit.md §1.1).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing file: {path}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal/corruption is a bad file
        raise CheckpointError(f"{path}: not a readable tensor file ({exc})") from exc
    if not isinstance(obj, torch.Tensor) or obj.ndim != 3 or obj.shape[0] != 1:
        shape = tuple(obj.shape) if isinstance(obj, torch.Tensor) else type(obj).__name__
        raise CheckpointError(f"{path}: expected a [1, {latent_dim}, frames] tensor, got {shape}")
    if obj.shape[1] == latent_dim:
        obj = obj.transpose(1, 2)  # [1, C, Ls] -> [1, Ls, C]
    elif obj.shape[2] != latent_dim:
        raise CheckpointError(f"{path}: expected {latent_dim} latent channels, got shape {tuple(obj.shape)}")
    return obj.float().contiguous()  # [1, Ls, C]


def short_list(items: list[str]) -> str:
    """The first LIST_LIMIT names, comma-separated, then how many more (error messages stay short)."""
    shown = ", ".join(items[:LIST_LIMIT])
    more = len(items) - LIST_LIMIT
    return shown + (f", ... and {more} more" if more > 0 else "")


def load_diffusers_module(cls, folder: Path, dtype: torch.dtype, what: str = ""):
    """`cls.from_pretrained(folder)` offline and strictly, with errors that name the file.

    diffusers only warns about missing / unexpected / wrong-shape weights and initialises them at
    random; a checkpoint that silently makes noise is worse than a clear error, so those fail.
    """
    folder = Path(folder)
    read_model_config(folder / "config.json")  # sane sizes, no custom code, before diffusers builds
    files = weight_files(folder)
    for path in files:
        check_safetensors_complete(path)
        check_float_weights(path)
    label = f"{what} " if what else ""
    try:
        module, info = cls.from_pretrained(
            str(folder), torch_dtype=dtype, local_files_only=True, output_loading_info=True
        )
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers raises many types; the user needs the folder
        raise CheckpointError(f"{folder}: {label}could not be loaded ({exc})") from exc
    problems = [
        f"{kind} {short_list(sorted(info.get(kind) or []))}"
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
        if info.get(kind)
    ]
    if problems:
        source = files[0] if len(files) == 1 else folder
        raise CheckpointError(f"{source}: {label}weights do not match config.json ({'; '.join(problems)})")
    return module
