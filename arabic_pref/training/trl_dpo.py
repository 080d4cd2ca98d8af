"""TRL's DPOTrainer with four documented seams, so a sweep pays for the reference and the data once.

1. `_precompute_ref_logps` (TRL calls it in `__init__` and in `evaluate(dataset)`): reference log-probs come from
   the on-disk cache of `ref_cache`, computed by a lean pass (log-probs of completion tokens only, none of the
   entropy/mean-logit/top-1 extras TRL's fused head computes for the policy) for the pairs not cached yet, and
   are attached as the `ref_chosen_logps`/`ref_rejected_logps` columns TRL's collator and loss read. TRL's own
   version writes a temporary `datasets` file next to an in-memory dataset (one process cannot open another's,
   the torchrun crash) and hashes the whole policy (adapters included) in `__init__`; neither happens here.
   Train pairs a run will not reach (max_steps * batch * accumulation * processes < pairs) are not precomputed:
   they carry NaN and the first batch that meets them fills them in `compute_loss`, then the cache.
2. `compute_loss` during `evaluate`: the per-pair policy and reference log-probs of TRL's own evaluation forward
   (captured with a forward hook, gathered with `gather_for_metrics` so each pair counts once across processes)
   accumulate in `eval_pair_scores`: preference accuracy and its variants need no second pass.
3. `_prepare_dataset`: TRL's tokenization, reused from `token_cache` across trials and runs.
4. `__init__`: TRL's `hash_module` of the policy (unused here) is skipped.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from trl import DPOTrainer as TRLDPOTrainer

from arabic_pref import upstream
from arabic_pref.metrics import PairScores
from arabic_pref.training import ref_cache
from arabic_pref.training.losses import length_desensitized_logps

log = logging.getLogger(__name__)
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


lean_fused_head = upstream.trl_logprobs_only  # TRL's fused head without its entropy/top-1/mean-logit extras
_no_policy_hash = upstream.trl_without_policy_hash  # TRL hashes the whole policy in __init__; we key by files


def _truncated(prompt: list, completion: list, max_length: int | None, mode: str) -> tuple[list, list]:
    """The ids and completion mask of prompt+completion as TRL's collator truncates them."""
    ids, mask = list(prompt) + list(completion), [0] * len(prompt) + [1] * len(completion)
    if max_length is not None:
        sl = slice(None, max_length) if mode == "keep_start" else slice(-max_length, None)
        ids, mask = ids[sl], mask[sl]
    return ids, mask


class ArabicPrefDPOTrainer(TRLDPOTrainer):
    """`trl.DPOTrainer` + the reference cache, one-pass evaluation scores and the tokenized-data cache."""

    def __init__(self, *args: Any, reference_identity: str | None = None, **kwargs: Any):
        self.reference_identity = reference_identity
        self.eval_pair_scores = PairScores()
        self.evaluated_dataset: Any = None
        self.reference_stats = {"cached": 0, "computed": 0, "deferred": 0}
        self._capturing = False
        self._new_reference: dict[bytes, tuple[float, float]] = {}
        self._store: ref_cache.ReferenceStore | None = None
        with _no_policy_hash() if reference_identity is not None else contextlib.nullcontext():
            super().__init__(*args, **kwargs)

    # --- 3. tokenized data ---
    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        from arabic_pref.training import token_cache

        if "prompt_ids" in getattr(dataset, "column_names", ()):  # prepared already (our evaluate paths)
            return dataset
        return token_cache.prepared(
            dataset,
            processing_class,
            args,
            lambda ds: super(ArabicPrefDPOTrainer, self)._prepare_dataset(ds, processing_class, args, dataset_name),
        )

    # --- 1. reference log-probs ---
    @property
    def store(self) -> ref_cache.ReferenceStore:
        if self._store is None:
            a = self.args
            parts = {"reference": self.reference_identity, "truncation_mode": a.truncation_mode}
            parts |= {"max_length": a.max_length, "ld_alpha": a.ld_alpha, "pad": self.padding_value}
            self._store = ref_cache.ReferenceStore(ref_cache.identity_key(parts))
        return self._store

    @property
    def padding_value(self) -> int | None:
        return getattr(self.data_collator, "pad_token_id", None)

    def pair_digests(self, dataset: Any) -> list[bytes]:
        a = self.args
        rows = zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"], strict=True)
        out = []
        for p, c, r in rows:
            ids_c, mask_c = _truncated(p, c, a.max_length, a.truncation_mode)
            ids_r, mask_r = _truncated(p, r, a.max_length, a.truncation_mode)
            out.append(ref_cache.sequence_digest(ids_c, mask_c, ids_r, mask_r))
        return out

    def _run_covers(self, n_pairs: int) -> bool:
        a = self.args
        if a.max_steps is None or a.max_steps <= 0:
            return True
        per_step = a.per_device_train_batch_size * a.gradient_accumulation_steps * self.accelerator.num_processes
        return a.max_steps * per_step >= n_pairs

    def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
        if self.reference_identity is None:
            return super()._precompute_ref_logps(dataset, name, batch_size)
        digests = self.pair_digests(dataset)
        values = self.store.load()
        upfront = name != "train" or self._run_covers(len(dataset))
        missing = [i for i, d in enumerate(digests) if d not in values] if upfront else []
        if missing:
            if self.accelerator.is_main_process:
                computed = self._reference_pass(dataset, missing, batch_size, digests)
                self.store.add(computed)
                values.update(computed)
            self.accelerator.wait_for_everyone()  # a no-op in one process; rank 0 fills, the others read
            if not self.accelerator.is_main_process:
                values = self.store.load()
        chosen, rejected = ref_cache.lookup(values, digests)
        n_nan = sum(c != c for c in chosen)
        n_cached = len(digests) - n_nan - (len(missing) if self.accelerator.is_main_process else 0)
        self.reference_stats["cached"] += n_cached
        self.reference_stats["computed"] += len(missing)
        self.reference_stats["deferred"] += n_nan
        log.info(
            "reference log-probs, %s: %d cached, %d computed, %d left for the first batch that uses them",
            name,
            n_cached,
            len(missing),
            n_nan,
        )
        present = [c for c in REF_COLUMNS if c in dataset.column_names]
        if present:
            dataset = dataset.remove_columns(present)
        return dataset.add_column(REF_COLUMNS[0], chosen).add_column(REF_COLUMNS[1], rejected)

    @torch.no_grad()
    def _reference_pass(self, dataset: Any, indices: list[int], batch_size: int, digests: list[bytes]) -> dict:
        """Reference log-probs of `indices` of a prepared dataset, longest first (less padding per batch)."""
        ids = dataset.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"])
        rows = {i: ids[i] for i in indices}
        order = sorted(
            indices,
            key=lambda i: -len(rows[i]["prompt_ids"]) - max(map(len, (rows[i]["chosen_ids"], rows[i]["rejected_ids"]))),
        )
        out: dict[bytes, tuple[float, float]] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = upstream.prepare_inputs(self, self.data_collator([rows[i] for i in chunk]))
            chosen, rejected = self.reference_batch(batch)
            for i, c, r in zip(chunk, chosen.tolist(), rejected.tolist(), strict=True):
                out[digests[i]] = (c, r)
        return out

    def reference_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(chosen, rejected) reference log-probs of a collated batch: TRL's reference forward, lean head."""
        was_training = self.model.training
        self.model.eval()
        try:
            with lean_fused_head():
                chosen, rejected = self.compute_ref_log_probs(self.ref_model or self.model, batch)
        finally:
            self.model.train(was_training)
        return chosen.float().cpu(), rejected.float().cpu()

    def _fill_deferred_reference(self, inputs: dict[str, Any]) -> None:
        chosen = inputs.get(REF_COLUMNS[0])
        if chosen is None or not torch.isnan(chosen).any():
            return
        rejected = inputs[REF_COLUMNS[1]]
        ref_c, ref_r = self.reference_batch(inputs)
        todo = torch.isnan(chosen) | torch.isnan(rejected)
        chosen[todo] = ref_c.to(chosen)[todo.cpu()].to(chosen.device)
        rejected[todo] = ref_r.to(rejected)[todo.cpu()].to(rejected.device)
        for i in todo.nonzero().flatten().tolist():
            self._new_reference[self._batch_digest(inputs, i)] = (float(ref_c[i]), float(ref_r[i]))

    @staticmethod
    def _batch_digest(inputs: dict[str, Any], i: int) -> bytes:
        n = inputs[REF_COLUMNS[0]].size(0)
        parts = []
        for row in (i, i + n):
            length = int(inputs["attention_mask"][row].sum())
            parts += [inputs["input_ids"][row, :length].tolist(), inputs["completion_mask"][row, :length].tolist()]
        return ref_cache.sequence_digest(*parts)

    def flush_reference_cache(self) -> None:
        """Write the reference log-probs computed during training (each process its own file)."""
        if self._new_reference and self.reference_identity is not None:
            self.store.add(self._new_reference)
            self.reference_stats["computed"] += len(self._new_reference)
            self._new_reference = {}

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """TRL's training; then the reference log-probs computed meanwhile go to the cache. A failed flush (a full
        disk) must not lose the trained model: it is kept in `reference_cache_error`, raised after the save."""
        self.reference_cache_error: Exception | None = None
        try:
            result = super().train(*args, **kwargs)
        except BaseException:
            with contextlib.suppress(Exception):
                self.flush_reference_cache()
            raise
        try:
            self.flush_reference_cache()
        except Exception as e:
            self.reference_cache_error = e
        return result

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """The Trainer's per-checkpoint hub push, sending the checkpoint's model files only (see hub_push)."""
        from arabic_pref.training.hub_push import push_checkpoint

        if not self.is_world_process_zero() or self.args.hub_strategy == "end":
            return
        push_checkpoint(self, checkpoint_folder, f"Training in progress, step {self.state.global_step}")

    # --- 2. one evaluation pass ---
    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        self.eval_pair_scores = PairScores()
        # what the captured pairs belong to (their slice tags ride along as columns); None = our own eval set
        self.evaluated_dataset = kwargs.get("eval_dataset", args[0] if args else None)
        self._capturing = True
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._capturing = False

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any) -> Any:
        self._fill_deferred_reference(inputs)
        if not self._capturing or self.model.training:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
        captured: list[torch.Tensor] = []
        modules = [model] + ([self.ref_model] if self.ref_model is not None else [])
        handles = [m.register_forward_hook(lambda _m, _a, out: captured.append(out.log_probs)) for m in modules]
        try:
            result = super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        self._record_pairs(inputs, captured)
        return result

    def _record_pairs(self, inputs: dict[str, Any], captured: list[torch.Tensor]) -> None:
        """Per-pair sums of TRL's per-token log-probs (as its loss sums them, LD weights included), gathered."""
        shift_mask = inputs["completion_mask"][:, 1:]
        seq_len = shift_mask.size(1)
        policy = length_desensitized_logps(captured[0][:, -seq_len:], shift_mask, self.ld_alpha)
        if REF_COLUMNS[0] in inputs:
            reference = torch.cat([inputs[REF_COLUMNS[0]], inputs[REF_COLUMNS[1]]]).to(policy.device)
        else:  # no precompute: the second forward of TRL's loss was the reference
            reference = length_desensitized_logps(captured[1][:, -seq_len:], shift_mask, self.ld_alpha)
        tokens = shift_mask.sum(dim=1).to(policy.device)
        p_c, p_r = policy.float().chunk(2)
        r_c, r_r = reference.float().chunk(2)
        n_c, n_r = tokens.chunk(2)
        gathered = self.accelerator.gather_for_metrics((p_c, p_r, r_c, r_r, n_c, n_r))
        self.eval_pair_scores.extend(PairScores(*(t.cpu().tolist() for t in gathered)))
