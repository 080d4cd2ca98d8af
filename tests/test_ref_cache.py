"""The on-disk reference log-prob cache: equal to fresh values, keyed by exactly its inputs, corruption-safe.

Real runs of the embedded tiny Qwen2 through TRL; each test gets its own cache folder (ARABIC_PREF_REF_CACHE).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from arabic_pref.config import DPOConfig
from arabic_pref.training import ref_cache
from arabic_pref.training.dpo_trainer import DPOTrainer
from tests.conftest import DATA, FIT, TINY

# 2 steps x 4 pairs cover the 8 train pairs: all 16 pairs are precomputed
SMALL = {
    **FIT,
    "max_train_samples": 8,
    "max_eval_samples": 8,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 4,
}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "ref-cache"
    monkeypatch.setenv(ref_cache.CACHE_ENV, str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def _build(tmp_path: Path, **overrides) -> DPOTrainer:
    fields = {"model_name": TINY, "dataset_path": DATA, "output_dir": str(tmp_path / "out"), "report_to": "none"}
    trainer = DPOTrainer(DPOConfig(**{**fields, **SMALL, **overrides}))
    trainer.build()
    return trainer


def _columns(trl_trainer, split: str = "eval") -> tuple[list[float], list[float]]:
    ds = trl_trainer.eval_dataset if split == "eval" else trl_trainer.train_dataset
    return ds["ref_chosen_logps"], ds["ref_rejected_logps"]


def _fresh(trl_trainer) -> tuple[list[float], list[float]]:
    """TRL's own reference computation (full fused head, dataset order), no cache involved."""
    ds = trl_trainer.eval_dataset.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"])
    batch = trl_trainer._prepare_inputs(trl_trainer.data_collator([ds[i] for i in range(len(ds))]))
    chosen, rejected = trl_trainer.compute_ref_log_probs(trl_trainer.model, batch)
    return chosen.tolist(), rejected.tolist()


@pytest.mark.slow
def test_cached_values_equal_fresh_ones_and_a_second_build_hits(tmp_path):
    first = _build(tmp_path)
    stats = first.trainer.reference_stats
    assert stats["computed"] == 16 and stats["cached"] == 0  # 8 train + 8 eval
    chosen, rejected = _columns(first.trainer)
    fresh_c, fresh_r = _fresh(first.trainer)
    # float32 sums of ~100 token log-probs (about -500 on the random tiny model) computed in other batch shapes:
    # equal to 1e-5 absolute or one part in 10^6, a few float32 ulps
    assert chosen == pytest.approx(fresh_c, abs=1e-5, rel=1e-6)
    assert rejected == pytest.approx(fresh_r, abs=1e-5, rel=1e-6)

    second = _build(tmp_path)  # a new run: every pair from disk, nothing computed
    assert second.trainer.reference_stats["computed"] == 0
    assert second.trainer.reference_stats["cached"] == 16
    assert _columns(second.trainer) == (chosen, rejected)


@pytest.mark.slow
def test_lora_rank_change_hits_and_input_changes_miss(tmp_path):
    base = _build(tmp_path, lora_r=16)
    assert base.trainer.reference_stats["computed"] > 0
    # same reference (the frozen base), other adapters, other DPO settings: a hit
    other_rank = _build(tmp_path, lora_r=8, lora_alpha=16, beta=0.5, loss_type="ipo")
    assert other_rank.trainer.reference_stats["computed"] == 0
    # what the reference scores changes: a miss each time
    for change in ({"system_prompt": "أنت مساعد."}, {"max_length": 80}, {"normalize": "full"}):
        changed = _build(tmp_path, **change)
        assert changed.trainer.reference_stats["computed"] > 0, change


def test_identity_follows_weights_dtype_quantization_and_settings(tmp_path):
    from types import SimpleNamespace

    from arabic_pref.builtin.model import ensure_tiny_qwen

    args = SimpleNamespace(device=torch.device("cpu"))

    def identity(**overrides) -> str:
        trainer = DPOTrainer(DPOConfig(**{"model_name": TINY, "dataset_path": DATA, **SMALL, **overrides}))
        trainer.setup_tokenizer()
        return ref_cache.reference_identity(trainer, args)

    base = identity()
    assert identity(lora_r=8, lora_alpha=16, beta=0.3, learning_rate=1e-3) == base  # not reference inputs
    for change in ({"bf16": True}, {"load_in_4bit": True}, {"system_prompt": None}, {"max_prompt_length": 32}):
        assert identity(**change) != base, change

    # a local copy of the same weights is the same reference; one changed byte is another
    copy = tmp_path / "model-copy"
    shutil.copytree(ensure_tiny_qwen(), copy)
    assert identity(model_name=str(copy)) == base
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert identity(model_name=str(copy)) != base


def test_store_detects_truncated_and_corrupt_files(tmp_path):
    store = ref_cache.ReferenceStore("x" * 32, root=tmp_path)
    values = {bytes([i]) * 16: (-float(i), -2.0 * i) for i in range(5)}
    path = store.add(values)
    assert store.load() == values
    path.write_bytes(path.read_bytes()[:-7])  # truncated
    assert store.load() == {} and not path.exists()

    path = store.add(values)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # one flipped byte in the payload
    path.write_bytes(bytes(raw))
    assert store.load() == {} and not path.exists()


def test_store_merges_many_files_without_losing_pairs(tmp_path):
    store = ref_cache.ReferenceStore("y" * 32, root=tmp_path)
    expected = {}
    for i in range(ref_cache.COMPACT_AFTER + 2):
        batch = {i.to_bytes(16, "little"): (float(i), float(-i))}
        store.add(batch)
        expected |= batch
    assert len(store.files()) <= ref_cache.COMPACT_AFTER
    assert store.load() == expected


@pytest.mark.slow
def test_corrupt_cache_file_is_rebuilt_in_a_run(tmp_path, own_cache):
    first = _build(tmp_path)
    values = _columns(first.trainer)
    for path in own_cache.rglob("*.bin"):
        path.write_bytes(path.read_bytes()[:-5])
    rebuilt = _build(tmp_path)
    assert rebuilt.trainer.reference_stats["computed"] == 16
    for new, old in zip(_columns(rebuilt.trainer), values, strict=True):
        assert list(new) == pytest.approx(list(old), abs=1e-5, rel=1e-6)


@pytest.mark.slow
def test_train_pairs_a_run_does_not_reach_are_scored_lazily_and_cached(tmp_path):
    short = _build(tmp_path, max_steps=1, per_device_train_batch_size=2)  # 1 step x 2 pairs of 8
    stats = short.trainer.reference_stats
    assert stats["computed"] == 8 and stats["deferred"] == 8  # validation now, train later
    short.trainer.train()
    assert short.trainer.reference_stats["computed"] == 8 + 2  # the two pairs of the one step, flushed
    full = _build(tmp_path)  # covers all train pairs: two of them come from the cache
    assert full.trainer.reference_stats["cached"] == 8 + 2
    assert full.trainer.reference_stats["computed"] == 6
