"""The training loop on the real stdlib corpus: learning, divergence, determinism, resume, schedules."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from workers.checkpoint import load_latest_checkpoint
from workers.config import TrialConfig
from workers.data import load_dataset
from workers.metrics import StepMetrics
from workers.schedules import lr_factor
from workers.train import train


@pytest.fixture(autouse=True)
def keep_torch_threads() -> Iterator[None]:
    """Trials set torch's process-wide thread count; give later tests in this process their own back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def tiny(**overrides: object) -> TrialConfig:
    """A trial small enough for a test: width 32, one block, char-level.

    One thread: on a CPU shared with other jobs, torch's spinning worker threads lose more than they gain.
    """
    fields = dict(
        width=32,
        depth=1,
        head_dim=16,
        context_length=32,
        batch_size=8,
        steps=20,
        lr=1e-2,
        eval_every=10,
        eval_batches=2,
        threads=1,
        device="cpu",
        tokenizer="char",
    )
    return TrialConfig(**{**fields, **overrides})


def run(config: TrialConfig) -> list[StepMetrics]:
    return list(train(config))


def test_loss_falls_well_below_the_unigram_entropy_at_width_128() -> None:
    config = TrialConfig(
        width=128,
        depth=2,
        head_dim=32,
        context_length=64,
        batch_size=32,
        steps=200,
        lr=1e-2,
        alpha_in=10.0,  # the embedding multiplier Cerebras-GPT tuned; learns faster than 1 at this budget
        warmup_fraction=0.05,
        eval_every=100,
        eval_batches=4,
        threads=1,
        device="cpu",
        tokenizer="char",
    )
    entropy = load_dataset(config).unigram_entropy()
    started = time.perf_counter()
    records = run(config)
    final = records[-1]
    print(
        f"unigram entropy {entropy:.3f} nats, final val {final.final_val_loss:.3f}, "
        f"{time.perf_counter() - started:.1f}s"
    )
    assert final.status == "completed" and final.step == 200
    assert final.final_val_loss < entropy - 0.6  # context is being used, not just token frequencies
    assert records[0].train_loss > entropy  # it started above what it beat


def test_huge_learning_rate_ends_as_diverged_without_raising() -> None:
    records = run(tiny(lr=1e4, steps=50, grad_clip=None))
    final = records[-1]
    assert final.status == "diverged" and final.done
    assert final.step <= 5 and len(records) == final.step
    assert final.final_val_loss is None
    assert not math.isfinite(final.train_loss) or final.train_loss > 3 * records[0].train_loss
    json.dumps(final.to_dict(), allow_nan=False)  # a blown-up loss still serializes as strict JSON


def test_training_is_deterministic_on_cpu() -> None:
    first, second = run(tiny()), run(tiny())
    assert [r.train_loss for r in first] == [r.train_loss for r in second]
    assert first[-1].final_val_loss == second[-1].final_val_loss
    assert run(tiny(seed=1))[-1].final_train_loss != first[-1].final_train_loss


def test_metric_stream_has_every_step_then_a_final_record() -> None:
    records = run(tiny(steps=20, eval_every=10))
    assert [r.step for r in records] == [*range(1, 21), 20]
    assert [r.status for r in records] == ["running"] * 20 + ["completed"]
    assert [r.step for r in records if r.val_loss is not None] == [10, 20, 20]
    assert records[-1].tokens == 20 * 8 * 32
    assert records[-1].best_val_loss == min(r.val_loss for r in records if r.val_loss is not None)
    assert all(r.grad_norm is not None and r.grad_norm > 0 for r in records)
    assert records[-1].wall_time >= records[0].wall_time > 0


def test_resume_from_checkpoint_gives_the_same_final_loss(tmp_path: Path) -> None:
    uninterrupted = run(tiny(steps=30))
    config = tiny(steps=30, checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=10)
    for record in train(config):  # a node dies after step 20
        if record.step == 20:
            break
    resumed = run(config)
    assert [r.step for r in resumed][:2] == [21, 22]
    assert resumed[-1].final_train_loss == uninterrupted[-1].final_train_loss
    assert resumed[-1].final_val_loss == uninterrupted[-1].final_val_loss
    assert resumed[-1].best_val_loss == uninterrupted[-1].best_val_loss
    assert resumed[0].wall_time > 0 and len(list((tmp_path / "ckpt").glob("checkpoint-*.pt"))) == 2
    again = run(config)  # a finished run only replays its final record
    assert len(again) == 1 and again[0].final_val_loss == uninterrupted[-1].final_val_loss


def test_checkpoint_of_a_different_run_is_refused(tmp_path: Path) -> None:
    run(tiny(steps=5, checkpoint_dir=str(tmp_path), checkpoint_every=5))
    with pytest.raises(ValueError, match=r"different settings \(lr: 0.01 -> 0.02\)"):
        run(tiny(steps=5, lr=2e-2, checkpoint_dir=str(tmp_path), checkpoint_every=5))


def test_schedule_scales_every_group_relative_to_its_own_base_lr(tmp_path: Path) -> None:
    config = tiny(
        steps=10, schedule="cosine", warmup_fraction=0.2, checkpoint_dir=str(tmp_path), checkpoint_every=3
    )
    records = run(config)
    assert [r.lr for r in records[:10]] == pytest.approx(
        [config.lr * lr_factor(i, 10, "cosine", warmup_fraction=0.2) for i in range(10)]
    )
    state = load_latest_checkpoint(tmp_path)
    assert state is not None and state["step"] == 10
    groups = state["optimizer"]["param_groups"]
    assert len({g["base_lr"] for g in groups}) > 1  # the parametrization gave groups different LRs
    for group in groups:  # the last update ran at factor(9); per-group multipliers were kept
        assert group["lr"] == pytest.approx(
            group["base_lr"] * lr_factor(9, 10, "cosine", warmup_fraction=0.2)
        )


def test_trains_on_a_user_token_file(tmp_path: Path) -> None:
    corpus = load_dataset(tiny(tokenizer="byte"))
    path = tmp_path / "train.bin"
    np.asarray(corpus.train[:200_000], dtype=np.uint16).tofile(path)
    records = run(tiny(data_path=str(path), token_dtype="uint16", vocab_size=256, steps=10))
    assert records[-1].status == "completed"
    assert records[-1].final_train_loss < records[0].train_loss


def test_invalid_settings_fail_before_training() -> None:
    with pytest.raises(ValueError, match="steps 0 must be >= 1"):
        run(tiny(steps=0))
    with pytest.raises(ValueError, match="lr nan must be a positive finite number"):
        run(tiny(lr=float("nan")))
    with pytest.raises(ValueError, match="device 'tpu' is not one of auto, cpu, cuda"):
        run(tiny(device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable GPU"):
            run(tiny(device="cuda"))


def test_a_torn_newest_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    run(tiny(steps=10, checkpoint_dir=str(tmp_path), checkpoint_every=5))
    newest = tmp_path / "checkpoint-00000010.pt"
    newest.write_bytes(newest.read_bytes()[:2000])
    state = load_latest_checkpoint(tmp_path)
    assert state is not None and state["step"] == 5
    assert not list(tmp_path.glob("*.tmp"))


def test_a_worker_config_with_an_unknown_key_is_an_error() -> None:
    """As in the sweep spec: a misspelt field must not silently keep its default."""
    good = TrialConfig(width=32).to_dict()
    assert TrialConfig.from_dict(good) == TrialConfig(width=32)
    with pytest.raises(ValueError, match=r"unknown TrialConfig field\(s\) \['warmup_fracton'\]"):
        TrialConfig.from_dict({**good, "warmup_fracton": 0.1})


def test_a_checkpoint_from_before_the_field_renames_still_resumes(tmp_path: Path) -> None:
    """A target interrupted before an upgrade resumes after it: old field names are read as the new ones."""
    import json

    from workers.checkpoint import check_resumable, config_fingerprint

    config = tiny(warmup_fraction=0.1)
    old = json.loads(config_fingerprint(config))
    old["warmup"] = old.pop("warmup_fraction")
    old["token_file"] = old.pop("data_path")
    old["extra"] = {}
    check_resumable(json.dumps(old), config, tmp_path)  # no error: the same run
    old["warmup"] = 0.3
    with pytest.raises(ValueError, match="warmup_fraction: 0.3 -> 0.1"):
        check_resumable(json.dumps(old), config, tmp_path)
