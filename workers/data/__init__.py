"""Real text for trials: the built-in ``python-stdlib`` corpus or a user's token file."""

from __future__ import annotations

from workers.config import TrialConfig
from workers.data.corpus import BUILTIN_CORPORA, load_builtin_corpus
from workers.data.dataset import TokenDataset
from workers.data.token_file import open_token_file
from workers.data.tokenizer import Tokenizer

__all__ = ["BUILTIN_CORPORA", "TokenDataset", "Tokenizer", "load_dataset"]


def load_dataset(config: TrialConfig) -> TokenDataset:
    """The data a trial trains on: the token file at ``data_path`` when set, else the built-in ``dataset``."""
    if config.data_path:
        tokens = open_token_file(config.data_path, config.token_dtype, config.vocab_size)
        data = TokenDataset.from_stream(tokens, int(config.vocab_size))
    elif config.dataset:
        tokens, tokenizer = load_builtin_corpus(config.dataset, config.tokenizer)
        if config.vocab_size is not None and config.vocab_size < tokenizer.vocab_size:
            raise ValueError(
                f"vocab_size {config.vocab_size} is smaller than the {config.tokenizer} vocabulary of "
                f"{config.dataset} ({tokenizer.vocab_size}): leave vocab_size unset for built-in corpora"
            )
        data = TokenDataset.from_stream(tokens, config.vocab_size or tokenizer.vocab_size, tokenizer)
    else:
        raise ValueError("no data: set dataset (e.g. 'python-stdlib') or data_path (a token file)")
    data.check_context(config.context_length)
    return data
