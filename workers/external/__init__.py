"""External models: a user's PyTorch module (`family: custom`) or a `transformers` config (`family: hf`),
trained under any parametrization without edits to its code (docs/external-models.md).

`build.external_model(config, vocab_size)` builds the model at `config.width`, infers every parameter's
role by building it at two widths on the meta device (`roles.py`), and wraps it in `ExternalModel`
(`model.py`), the contract the training loop, the parametrization and the coordinate check already read.
This module holds only names (no torch), so the spec can validate a model section without loading torch.
"""

from __future__ import annotations

# The families whose model mutransfer did not write.
EXTERNAL_FAMILIES = ("custom", "hf")

# model_type -> (width field, depth field, heads field, key/value heads field or None, MLP field, context
# field): the `transformers` config fields an `hf` model's size is written into (workers/external/source.py).
HF_FIELDS: dict[str, tuple[str, str, str, str | None, str, str]] = {
    "llama": (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "max_position_embeddings",
    ),
    "gpt2": ("n_embd", "n_layer", "n_head", None, "n_inner", "n_positions"),
}
HF_MODEL_TYPES = tuple(HF_FIELDS)
