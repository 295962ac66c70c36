"""External models for tests, written into a temporary directory outside the repository, as a user's
would be: a small decoder in plain PyTorch with tied embeddings (the example's), and a `transformers` Llama
config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The example's decoder (examples/custom-model), with 8-wide heads so the tests' 16-wide proxies build.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom-model" / "my_models" / "tiny_decoder.py"
DECODER = EXAMPLE.read_text().replace("HEAD_DIM = 16", "HEAD_DIM = 8")
assert "HEAD_DIM = 8" in DECODER
TIE = next(line for line in DECODER.splitlines(keepends=True) if "lm_head.weight = self.token.weight" in line)

ENTRYPOINT = "tinydec.model:build"

LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 32,
    "num_attention_heads": 4,  # head size 8
    "num_key_value_heads": 2,
    "intermediate_size": 86,
}


def write_decoder(root: Path, source: str = DECODER) -> Path:
    """`root/tinydec/model.py` holding `source`; returns `root` (the --code directory)."""
    package = root / "tinydec"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(source)
    return root
