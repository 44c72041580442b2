from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, AutoModel

from glpsearch.errors import UserError
from glpsearch.model import surgery


def _hidden_states(model: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    model.eval()
    ids = torch.tensor([[2, 5, 9, 14, 20, 3]])
    with torch.inference_mode():
        return model(input_ids=ids, output_hidden_states=True).hidden_states


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "electra"])
def test_removal_is_physical_and_keeps_the_other_layers(tiny_models, arch):
    full = AutoModel.from_pretrained(tiny_models[arch])
    pruned = AutoModel.from_pretrained(tiny_models[arch])
    per_layer = _count(surgery.layer_list(full)[2][0])

    surgery.remove_layers(pruned, {1, 3})

    assert surgery.num_layers(pruned) == 2
    assert pruned.config.num_hidden_layers == 2
    assert _count(pruned) == _count(full) - 2 * per_layer
    kept_full = surgery.layer_list(full)[2]
    kept_pruned = surgery.layer_list(pruned)[2]
    for new, old in ((0, 0), (1, 2)):
        assert torch.equal(
            torch.nn.utils.parameters_to_vector(kept_pruned[new].parameters()),
            torch.nn.utils.parameters_to_vector(kept_full[old].parameters()),
        )
    # Before any fine-tuning, the layers below the first removed one compute exactly as before.
    full_states, pruned_states = _hidden_states(full), _hidden_states(pruned)
    assert len(pruned_states) == 3
    torch.testing.assert_close(pruned_states[0], full_states[0])
    torch.testing.assert_close(pruned_states[1], full_states[1])


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_removing_top_layers_leaves_lower_outputs_unchanged(tiny_models, arch):
    full = AutoModel.from_pretrained(tiny_models[arch])
    pruned = surgery.remove_layers(AutoModel.from_pretrained(tiny_models[arch]), {2, 3})
    full_states, pruned_states = _hidden_states(full), _hidden_states(pruned)
    for i in range(3):
        torch.testing.assert_close(pruned_states[i], full_states[i])


def test_pruned_model_saves_and_reloads_at_its_new_depth(tiny_model, tmp_path):
    pruned = surgery.remove_layers(AutoModel.from_pretrained(tiny_model), {0})
    pruned.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path)
    assert reloaded.config.num_hidden_layers == 3
    torch.testing.assert_close(_hidden_states(reloaded)[-1], _hidden_states(pruned)[-1])


@pytest.mark.parametrize("removed", [{4}, {-1}, {0, 1, 2, 3}])
def test_impossible_removals_are_refused(tiny_model, removed):
    with pytest.raises(ValueError):
        surgery.remove_layers(AutoModel.from_pretrained(tiny_model), removed)


def test_shared_layer_architectures_are_reported_clearly():
    config = AlbertConfig(
        vocab_size=30,
        embedding_size=8,
        hidden_size=16,
        num_attention_heads=2,
        intermediate_size=32,
        num_hidden_layers=4,
    )
    with pytest.raises(UserError, match="cannot find the encoder layers of AlbertModel"):
        surgery.layer_list(AlbertModel(config))
