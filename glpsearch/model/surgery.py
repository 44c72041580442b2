"""Physically remove encoder layers from a Hugging Face model.

The encoder's layer list is found generically (the outermost `nn.ModuleList` holding
`config.num_hidden_layers` modules), so BERT, RoBERTa, DistilBERT, ELECTRA, ... need no
per-architecture code. Removed layers are dropped from the list and the config shrinks with
them, so the model is really smaller and a saved checkpoint reloads at the new depth.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from glpsearch.errors import UserError


def layer_list(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent module, attribute name, layer list) of the model's encoder layers."""
    n = getattr(model.config, "num_hidden_layers", None)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == n
    ]
    if not found:
        raise UserError(
            f"cannot find the encoder layers of {type(model).__name__}: no list of {n} layers "
            "(architectures that share weights across layers, such as ALBERT, cannot be pruned)"
        )
    name, layers = min(found, key=lambda item: item[0].count("."))
    parent_name, _, attribute = name.rpartition(".")
    return model.get_submodule(parent_name), attribute, layers


def num_layers(model: nn.Module) -> int:
    return len(layer_list(model)[2])


def kept_layers(n_layers: int, removed: Iterable[int]) -> list[int]:
    """The original indices of the layers a model keeps, in order: the pruned model's layer k
    is the original model's layer kept_layers(...)[k], with the same weights."""
    removed = set(removed)
    return [i for i in range(n_layers) if i not in removed]


def remove_layers(model: nn.Module, removed: Iterable[int]) -> nn.Module:
    """Drop the given layers in place and return the model; kept layers keep their weights."""
    parent, attribute, layers = layer_list(model)
    removed = set(removed)
    n = len(layers)
    if any(i < 0 or i >= n for i in removed):
        raise ValueError(f"layer indices must be in 0..{n - 1}, got {sorted(removed)}")
    if len(removed) >= n:
        raise ValueError(f"cannot remove all {n} layers")
    kept = [layers[i] for i in kept_layers(n, removed)]
    setattr(parent, attribute, nn.ModuleList(kept))
    config = model.config
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == n:
        config.layer_types = [t for i, t in enumerate(layer_types) if i not in removed]
    config.num_hidden_layers = len(kept)
    for new_index, layer in enumerate(kept):  # attention caches index layers by position
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new_index
    return model
