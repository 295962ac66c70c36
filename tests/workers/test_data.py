"""The data a trial trains on: the built-in stdlib corpus, user token files, the batch sampler, schedules."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from workers.config import TrialConfig
from workers.data import load_dataset
from workers.data.corpus import CORPUS_CAP_BYTES, cache_dir, load_builtin_corpus, stdlib_files
from workers.data.dataset import TokenDataset
from workers.data.tokenizer import build_tokenizer
from workers.schedules import lr_factor, schedule_for


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty on-disk cache and an empty in-process memo, so the corpus is really rebuilt."""
    monkeypatch.setenv("MUTRANSFER_DATA_DIR", str(tmp_path))
    load_builtin_corpus.cache_clear()
    yield cache_dir()
    load_builtin_corpus.cache_clear()


def corpus_text() -> str:
    return "".join(f.read_text(encoding="utf-8", errors="replace") for f in stdlib_files())


def test_stdlib_file_list_is_deterministic_capped_and_excludes_tests() -> None:
    files = stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    assert files == stdlib_files() == sorted(files)
    assert len(files) > 50
    assert 1_000_000 < sum(f.stat().st_size for f in files) <= CORPUS_CAP_BYTES
    for f in files:
        parts = f.relative_to(root).parts
        assert not {"test", "tests", "site-packages", "encodings"} & set(parts), f
        assert not f.name.startswith("test_")


@pytest.mark.parametrize("tokenizer, vocab", [("char", None), ("byte", 256)])
def test_builtin_corpus_is_the_stdlib_source_text(tokenizer: str, vocab: int | None) -> None:
    data = load_dataset(TrialConfig(tokenizer=tokenizer))
    text = corpus_text()
    assert data.tokenizer is not None
    if vocab is None:  # char vocabulary: exactly the corpus's distinct characters, sorted
        assert data.vocab_size == len(set(text))
        assert data.tokenizer.decode(np.arange(5)) == "".join(sorted(set(text))[:5])
    else:
        assert data.vocab_size == vocab
    assert data.tokenizer.decode(data.train[:5000]) == text[: len(data.tokenizer.decode(data.train[:5000]))]
    assert "def " in data.tokenizer.decode(data.val[:20000])
    assert "import " in data.tokenizer.decode(data.train[:200000])
    total = len(data.train) + len(data.val)
    assert len(data.val) == int(total * 0.1)


def test_char_tokenizer_roundtrips_and_rejects_unknown_characters() -> None:
    tok = build_tokenizer("char", "def f(x):\n    return x\n")
    assert tok.decode(tok.encode("return f(x)")) == "return f(x)"
    with pytest.raises(ValueError, match="not in the char vocabulary"):
        tok.encode("λ")
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        build_tokenizer("bpe", "x")


def test_corpus_cache_is_written_atomically_and_reused(fresh_cache: Path) -> None:
    tokens, tok = load_builtin_corpus("python-stdlib", "char")
    (written,) = list(fresh_cache.iterdir())
    assert written.suffix == ".npz" and "char" in written.name  # no temp file left behind
    load_builtin_corpus.cache_clear()
    again, tok2 = load_builtin_corpus("python-stdlib", "char")
    assert np.array_equal(tokens, again) and np.array_equal(tok.codepoints, tok2.codepoints)
    written.write_bytes(written.read_bytes()[:1000])  # a torn file (say, from a full disk) is a miss
    load_builtin_corpus.cache_clear()
    rebuilt, _ = load_builtin_corpus("python-stdlib", "char")
    assert np.array_equal(tokens, rebuilt)


def test_unknown_dataset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="built-in corpora are python-stdlib"):
        load_dataset(TrialConfig(dataset="openwebtext"))
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe': choose one of char, byte"):
        load_dataset(TrialConfig(tokenizer="bpe"))
    with pytest.raises(ValueError, match="set dataset"):
        load_dataset(TrialConfig(dataset=None))


def test_batches_are_seeded_windows_of_the_train_split() -> None:
    data = load_dataset(TrialConfig(tokenizer="char"))
    x, y = data.batch("train", 8, 32, seed=3, index=5)
    assert x.shape == y.shape == (8, 32)
    assert (x[:, 1:] == y[:, :-1]).all()  # targets are the next tokens
    x2, _ = data.batch("train", 8, 32, seed=3, index=5)
    assert (x == x2).all()
    assert not (x == data.batch("train", 8, 32, seed=3, index=6)[0]).all()
    assert not (x == data.batch("train", 8, 32, seed=4, index=5)[0]).all()
    train = np.asarray(data.train)
    row = x[0].numpy()
    starts = np.flatnonzero(train[: len(train) - 32] == row[0])
    assert any(np.array_equal(train[s : s + 32], row) for s in starts)


def test_unigram_entropy_matches_the_definition() -> None:
    tokens = np.array([0, 0, 1, 1, 2, 2, 2, 2] * 10, dtype=np.uint16)
    data = TokenDataset(train=tokens, val=tokens, vocab_size=4)
    assert data.unigram_entropy() == pytest.approx(-(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5)))
    corpus = load_dataset(TrialConfig(tokenizer="char"))
    assert 2.0 < corpus.unigram_entropy() < math.log(corpus.vocab_size)


def write_token_file(path: Path, tokens: np.ndarray, dtype: str) -> Path:
    tokens.astype(dtype).tofile(path)
    return path


def test_token_file_is_memory_mapped_and_split(tmp_path: Path) -> None:
    corpus = load_dataset(TrialConfig(tokenizer="byte"))
    stream = np.concatenate([corpus.train[:90_000], corpus.val[:10_000]])  # real text tokens
    for dtype in ("uint16", "uint32"):
        path = write_token_file(tmp_path / f"train-{dtype}.bin", stream, dtype)
        config = TrialConfig(data_path=str(path), token_dtype=dtype, vocab_size=256, context_length=16)
        data = load_dataset(config)
        assert isinstance(data.train, np.memmap)
        assert np.array_equal(data.train, stream[:90_000]) and np.array_equal(data.val, stream[90_000:])
        x, y = data.batch("val", 4, 16, seed=0, index=0)
        assert x.shape == (4, 16) and (x[:, 1:] == y[:, :-1]).all()


def test_token_file_errors_say_what_to_fix(tmp_path: Path) -> None:
    good = write_token_file(tmp_path / "ok.bin", np.arange(1000) % 50, "uint16")

    def load(**overrides: object) -> TokenDataset:
        fields = {"data_path": str(good), "token_dtype": "uint16", "vocab_size": 50, "context_length": 16}
        return load_dataset(TrialConfig(**{**fields, **overrides}))

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(data_path=str(tmp_path / "missing.bin"))
    with pytest.raises(ValueError, match="needs vocab_size"):
        load(vocab_size=None)
    with pytest.raises(ValueError, match="token_dtype 'int8' is not supported"):
        load(token_dtype="int8")
    with pytest.raises(ValueError, match="does not fit token_dtype uint16"):
        load(vocab_size=100_000)
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x01\x00\x02")
    with pytest.raises(ValueError, match="not a whole number of uint16 tokens"):
        load(data_path=str(odd))
    with pytest.raises(ValueError, match="fewer than context_length"):
        load(context_length=500)
    with pytest.raises(ValueError, match="token id 4[0-9] .* >= vocab_size 40"):
        load(vocab_size=40).batch("train", 64, 16, seed=0, index=0)


def test_schedules_scale_the_base_lr() -> None:
    warm = [lr_factor(i, 100, "constant", warmup_fraction=0.1) for i in range(12)]
    assert warm[:10] == pytest.approx([(i + 1) / 10 for i in range(10)]) and warm[10:] == [1.0, 1.0]
    cosine = [lr_factor(i, 100, "cosine", min_lr_ratio=0.1) for i in range(100)]
    assert cosine[0] == pytest.approx(1.0, abs=1e-3) and cosine[49] == pytest.approx(0.55)
    assert cosine[-1] == pytest.approx(0.1) and all(a >= b for a, b in zip(cosine, cosine[1:], strict=False))
    wsd = [lr_factor(i, 100, "wsd", decay_fraction=0.2, min_lr_ratio=0.0) for i in range(100)]
    assert set(wsd[:80]) == {1.0} and wsd[89] == pytest.approx(0.5) and wsd[-1] == 0.0
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        schedule_for(TrialConfig(schedule="linear"))
    with pytest.raises(ValueError, match="warmup_fraction 1.5"):
        schedule_for(TrialConfig(warmup_fraction=1.5))
