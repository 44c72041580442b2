"""Block Influence (ShortGPT; Men et al., 2024): how much each layer changes what flows through it.

BI_i = 1 - cos(x_i, x_{i+1}), averaged over every real (non-padding) token of the task's
training texts, where x_i is the hidden state entering layer i and x_{i+1} the one leaving it.
It is measured once on the pretrained model, with nothing fine-tuned: a layer whose output
points where its input did is the cheapest to remove. The block-influence strategy follows the
ranking; only the sets it proposes are fine-tuned.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F

from glpsearch.errors import UserError
from glpsearch.model.evaluator import Evaluator


@torch.inference_mode()
def block_influence(evaluator: Evaluator, max_examples: int = 256) -> list[float]:
    """One value in [0, 2] per layer, in layer order: deterministic given model and data."""
    model = evaluator.build(frozenset(), seed=0).base_model.eval()  # the seed only seeds a head
    totals = [0.0] * evaluator.n_layers
    tokens = 0
    for batch in evaluator.training_batches(max_examples):
        states = model(**batch, output_hidden_states=True).hidden_states
        if len(states) != evaluator.n_layers + 1:
            raise UserError(
                f"{evaluator.model_name} does not report one hidden state per layer; "
                "block-influence cannot rank its layers, choose another strategy"
            )
        real = batch["attention_mask"].bool()
        for layer, (entering, leaving) in enumerate(pairwise(states)):
            cosine = F.cosine_similarity(entering[real].float(), leaving[real].float(), dim=-1)
            totals[layer] += (1 - cosine.clamp(-1, 1)).sum().item()  # clamp: rounding only
        tokens += int(real.sum())
    return [total / tokens for total in totals]


def ranking(values: Sequence[float]) -> tuple[int, ...]:
    """Layers from least to most influential; of equal ones the higher layer comes first, the
    tie rule of strategies.base.best (upper layers are the ones most often redundant)."""
    return tuple(sorted(range(len(values)), key=lambda layer: (values[layer], -layer)))
