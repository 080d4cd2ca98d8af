"""Reference log-probs kept on disk, keyed by exactly what determines them, so each pair is scored once.

The reference of a DPO run is frozen: its log-probs of a pair depend on the reference weights (not on LoRA
adapters, beta, learning rate or loss type), their dtype and quantization, the device kind, the token ids the
model sees (data content, chat template, system prompt, normalization, length limits: all captured by the
ids), the collator's truncation and the package versions that compute them. TRL 1.16 recomputes them in every
trial for in-memory datasets and keys its own cache by a hash of the whole policy (adapters included).

Layout: `<cache>/ref-logps/<identity>/<digest>.bin`, one identity per reference set-up, each file a batch of
(pair digest, chosen log-prob, rejected log-prob) records. Files are written to a temporary name and renamed
(atomic), so concurrent writers (sweep workers, ranks) never expose a partial file; each file carries its length
and a SHA-256 of its payload, so a corrupt or truncated file is detected, deleted and its pairs recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "ARABIC_PREF_REF_CACHE"  # overrides <ARABIC_PREF_CACHE>/ref-logps
FORMAT_VERSION = 1
MAGIC = b"APREF01\n"
HEADER = struct.Struct("<8sQ32s")  # magic, record count, sha256 of the payload
RECORD = np.dtype([("digest", "V16"), ("chosen", "<f8"), ("rejected", "<f8")])
COMPACT_AFTER = 16  # files per identity before they are merged into one
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def cache_dir() -> Path:
    from arabic_pref.builtin.model import cache_root

    return Path(os.environ.get(CACHE_ENV) or cache_root() / "ref-logps").expanduser()


# --- what the reference log-probs depend on ---
def _file_digest(path: Path, memo: dict[str, str]) -> str:
    """SHA-256 of a file's content. Hub blobs are named by it already; other files are hashed once (memoised by
    path, size and mtime in a JSON file: the digest itself is of the content)."""
    real = path.resolve()
    if len(real.name) == 64 and all(ch in "0123456789abcdef" for ch in real.name):  # hub LFS blob: its SHA-256
        return real.name
    stat = real.stat()
    memo_key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
    if memo_key not in memo:
        h = hashlib.sha256()
        with open(real, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        memo[memo_key] = h.hexdigest()
    return memo[memo_key]


def weights_digest(folder: str | os.PathLike) -> dict[str, Any]:
    """Content digests of a model folder's weight and config files, and the hub revision when it is a snapshot."""
    root = Path(folder)
    memo_file = cache_dir() / "file-digests.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    size = len(memo)
    files = sorted(p for p in root.iterdir() if p.suffix in WEIGHT_SUFFIXES or p.name == "config.json")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in files):
        raise FileNotFoundError(f"no weight files in {root}")
    digests = {p.name: _file_digest(p, memo) for p in files}
    if len(memo) != size:
        from arabic_pref.metadata import atomic_write_text

        memo_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_file, json.dumps(memo, sort_keys=True))
    revision = root.name if root.parent.name == "snapshots" else None
    return {"files": digests, "revision": revision}


def module_digest(module: Any) -> str:
    """Fallback when the reference has no folder: its non-adapter tensors (like TRL's hash, without LoRA)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if "lora_" in name:
            continue
        t = tensor.detach().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update((t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy().tobytes())
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def identity_key(parts: Mapping[str, Any]) -> str:
    """Hex key of a reference set-up (`parts` must be JSON-serialisable)."""
    blob = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sequence_digest(*parts: Sequence[int]) -> bytes:
    """16-byte digest of a pair as the reference scores it: the truncated ids and completion mask of
    prompt+chosen and of prompt+rejected (so data, template, system prompt and length limits are all in it)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        arr = np.asarray(part, dtype=np.int64)
        h.update(struct.pack("<Q", arr.size))
        h.update(arr.tobytes())
    return h.digest()


# --- the store ---
class ReferenceStore:
    """The cached reference log-probs of one identity: lookup, add, corruption-safe files."""

    def __init__(self, identity: str, root: Path | None = None):
        self.identity = identity
        self.folder = (root or cache_dir()) / identity

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.bin")) if self.folder.is_dir() else []

    @staticmethod
    def read_file(path: Path) -> np.ndarray | None:
        """The records of one file, or None (and the file removed) when it is truncated or corrupt."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # merged away by another process
            return None
        ok = len(raw) >= HEADER.size
        if ok:
            magic, count, checksum = HEADER.unpack_from(raw)
            payload = raw[HEADER.size :]
            ok = magic == MAGIC and len(payload) == count * RECORD.itemsize
            ok = ok and hashlib.sha256(payload).digest() == checksum
        if not ok:
            log.warning("reference cache: %s is corrupt or truncated; removing it (its pairs are recomputed)", path)
            path.unlink(missing_ok=True)
            return None
        return np.frombuffer(payload, dtype=RECORD)

    def load(self) -> dict[bytes, tuple[float, float]]:
        values: dict[bytes, tuple[float, float]] = {}
        for path in self.files():
            records = self.read_file(path)
            if records is not None:
                for rec in records:
                    values[bytes(rec["digest"])] = (float(rec["chosen"]), float(rec["rejected"]))
        return values

    def add(self, values: Mapping[bytes, tuple[float, float]]) -> Path | None:
        """Write `values` as one new file (atomic); merge the identity's files when there are many."""
        if not values:
            return None
        path = self._write(values)
        if len(self.files()) > COMPACT_AFTER:
            self.compact()
        return path

    def compact(self) -> None:
        """Merge the identity's files into one (readers racing with it just recompute what they miss)."""
        old = self.files()
        target = self._write(self.load())
        for path in old:
            if path != target:
                path.unlink(missing_ok=True)

    def _write(self, values: Mapping[bytes, tuple[float, float]]) -> Path:
        records = np.empty(len(values), dtype=RECORD)
        for i, (digest, (chosen, rejected)) in enumerate(sorted(values.items())):
            records[i] = (digest, chosen, rejected)
        payload = records.tobytes()
        from arabic_pref.metadata import atomic_write_bytes

        target = self.folder / _file_name(values)
        atomic_write_bytes(target, HEADER.pack(MAGIC, len(records), hashlib.sha256(payload).digest()) + payload)
        return target


def _file_name(values: Mapping[bytes, Any]) -> str:
    h = hashlib.sha256()
    for digest in sorted(values):
        h.update(digest)
    return h.hexdigest()[:24] + ".bin"


def model_folder(source: str) -> Path | None:
    """The local folder of a model source: a path as is, a cached hub id as its snapshot folder."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "config.json")
    except Exception:  # not a hub id
        return None
    return Path(found).parent if isinstance(found, str) else None


def reference_identity(trainer: Any, training_args: Any) -> str:
    """Identity of the reference set-up of our `DPOTrainer` (after `setup_reference_model`)."""
    from arabic_pref.fast_logprob import installed as fast_path_installed
    from arabic_pref.training.fingerprint import tokenizer_digest

    c = trainer.config
    device_type = c.ref_model_device or training_args.device.type
    base_is_reference = c.use_lora and c.ref_model_name is None
    source = trainer.resolve_model() if base_is_reference else trainer.ref_model_name
    folder = model_folder(source)
    try:
        weights: Any = weights_digest(folder) if folder is not None else None
    except (OSError, ValueError):
        weights = None
    if weights is None:
        ref = trainer.ref_model
        weights = module_digest(getattr(ref, "model", ref))
    parts = {
        "weights": weights,
        "dtype": "bf16" if c.bf16 else "fp16" if c.fp16 else "fp32",
        "load_in_4bit": c.load_in_4bit,
        "load_in_8bit": c.load_in_8bit,
        # QLoRA: the reference is the prepared k-bit base; full fine-tuning quantizes the separate reference
        "base_is_reference": base_is_reference,
        "device": str(device_type).split(":")[0],
        "tokenizer": tokenizer_digest(trainer.tokenizer),
        "system_prompt": c.system_prompt,
        "normalize": c.normalize,
        "max_length": c.max_length,
        "max_prompt_length": c.max_prompt_length,
        "fast_cpu_logprob": fast_path_installed() and str(device_type).startswith("cpu"),
        "versions": package_versions(),
    }
    return identity_key(parts)


def lookup(values: Mapping[bytes, tuple[float, float]], digests: Iterable[bytes]) -> tuple[list, list]:
    """(chosen, rejected) columns for `digests`, NaN where not cached."""
    nan = (float("nan"), float("nan"))
    found = [values.get(d, nan) for d in digests]
    return [c for c, _ in found], [r for _, r in found]
