"""The private names of other libraries we rely on (arabic_pref.upstream) still exist and still behave as read.

Each test fails loudly on an upgrade that moves or changes one; fix arabic_pref/upstream.py, nothing else.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from arabic_pref import upstream


def test_trl_logprob_seam_is_what_the_fused_lm_head_calls():
    import trl.trainer.utils as trl_utils
    from trl.kernels import ChunkedLogProbFunction

    from arabic_pref import fast_logprob

    fast_logprob.uninstall()  # an earlier in-process run may have installed our CPU path (process-wide)
    function, use_triton = upstream.trl_logprob_seam()
    assert function is ChunkedLogProbFunction
    assert use_triton(torch.device("cpu")) is False  # CPU: every position scored, so we switch compact on
    source = inspect.getsource(trl_utils)
    assert "_ChunkedLogProbFunction.apply(" in source and "compact = _use_triton(" in source


def test_trl_prepare_dataset_and_transformers_prepare_inputs_keep_their_signatures():
    from transformers import Trainer
    from trl import DPOTrainer

    assert list(inspect.signature(DPOTrainer._prepare_dataset).parameters)[:5] == [
        "self",
        "dataset",
        "processing_class",
        "args",
        "dataset_name",
    ]
    assert list(inspect.signature(Trainer._prepare_inputs).parameters) == ["self", "inputs"]


def test_datasets_reducer_changes_fingerprints():
    from datasets.fingerprint import Hasher

    class Opaque:
        def __init__(self, digest: str):
            self.digest = digest
            self.noise = object()  # unpicklable identity: without our reducer every instance hashes differently

    def reduce(pickler, obj):
        pickler.save_reduce(str, (obj.digest,), obj=obj)

    upstream.register_datasets_reducer(Opaque, reduce)
    assert Hasher.hash(Opaque("a")) == Hasher.hash(Opaque("a")) != Hasher.hash(Opaque("b"))


def test_hydra_job_return_keeps_the_exception():
    from hydra.core.utils import JobReturn, JobStatus

    error = ValueError("boom")
    ret = JobReturn(status=JobStatus.FAILED, _return_value=error)
    assert upstream.hydra_job_exception(ret) is error
    with pytest.raises(ValueError, match="boom"):
        _ = ret.return_value
    assert upstream.hydra_job_exception(JobReturn(status=JobStatus.COMPLETED, _return_value=0.5)) is None


def test_bitsandbytes_cpu_layout_flag_exists_on_4bit_layers():
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit(8, 8, compute_dtype=torch.float32)
    model = torch.nn.Sequential(layer)
    assert upstream.keep_bnb_cpu_layout_trainable(model) == 1 and layer.support_avx512bf16_for_cpu is False


def test_trl_logprobs_only_and_policy_hash_seams():
    import trl.trainer.dpo_trainer as trl_dpo
    import trl.trainer.utils as trl_utils

    original = trl_utils._ChunkedLogProbFunction
    with upstream.trl_logprobs_only():
        assert trl_utils._ChunkedLogProbFunction is not original
        hidden, weight = torch.randn(3, 4), torch.randn(11, 4)
        out = trl_utils._ChunkedLogProbFunction.apply(
            hidden, weight, None, torch.tensor([1, 2, 3]), 1.0, 4096, None, 1.0, ("log_probs", "entropy")
        )
        assert out[0].shape == (3,) and out[1] is None  # the extras are not computed
    assert trl_utils._ChunkedLogProbFunction is original
    hash_module = trl_dpo.hash_module
    with upstream.trl_without_policy_hash():
        assert trl_dpo.hash_module(torch.nn.Linear(2, 2)) == "arabic-pref-ref-cache"
    assert trl_dpo.hash_module is hash_module


def test_the_trl_methods_we_override_exist():
    from trl import DPOTrainer

    for name in upstream.TRL_DPO_OVERRIDES:
        assert callable(getattr(DPOTrainer, name)), name


def test_optuna_trial_id_is_what_storage_methods_take():
    import optuna

    study = optuna.create_study(storage="sqlite:///:memory:")
    trial = study.ask()
    trial_id = upstream.optuna_trial_id(trial)
    assert study._storage.get_trial_number_from_id(trial_id) == trial.number


def test_stored_trial_reads_what_another_worker_wrote():
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage("sqlite:///:memory:")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    other = optuna.load_study(study_name="s", storage=storage)  # another worker on the same storage
    other.tell(trial.number, state=TrialState.FAIL)
    assert upstream.stored_trial(study, trial).state == TrialState.FAIL
