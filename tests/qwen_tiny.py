"""Tiny random-weight Qwen2.5-VL and Qwen3-VL checkpoints built offline, for tests and perf smoke runs.

No weights can be downloaded here, so tests build what a hub checkpoint would hold — a config, a
BPE tokenizer carrying Qwen's special tokens, image and video processors, a chat template — and
save it with `save_pretrained`. The product then loads the directory through its ordinary
`from_pretrained` path. Output is gibberish; the plumbing is real.

The Qwen2.5-VL checkpoint carries Qwen2.5-VL's own chat template, which ignores `tools=` (as the
hub one does); the Qwen3-VL checkpoint carries a tool-aware template like Qwen3-VL's.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

# Qwen's control tokens, in the order the real vocabulary lists them after the BPE tokens.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Added but not "special": the model writes them and decoding keeps them (as in Qwen's tokenizer).
TEXT_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]

QWEN25_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    'Which response is better? Answer A or B. <tool_call>\n{"name": "select_frames", "arguments": '
    '{"timestamps": [1.5, 2.0]}}\n</tool_call>',
    '{"name": "submit_verdict", "arguments": {"preferred": "A", "confidence": 0.8, "rationale": "the red square"}}',
    '{"name": "zoom", "arguments": {"timestamp": 2.2, "box": [100, 200, 500, 600]}}',
    "frame t=12.40s zoom box overview video image question response evidence timestamp Overall Judgment",
    "The quick brown fox jumps over the lazy dog. 0123456789 [](){}:,.\"'!?-_+=*/\\ \n\t",
]


def _train_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE with Qwen2's pre-tokenizer, trained on a few lines of judge-like text."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer


def qwen_tokenizer(vocab_size: int = 400) -> Any:
    """The trained BPE wrapped as transformers' Qwen2Tokenizer with Qwen's added tokens."""
    from tokenizers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    bpe = _train_tokenizer(vocab_size)
    model = bpe.model
    vocab = bpe.get_vocab()
    merges = _merges_of(model)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]}
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_TOKENS])
    return tokenizer


def _merges_of(model: Any) -> list[tuple[str, str]]:
    import json

    state = json.loads(model.__getstate__()) if hasattr(model, "__getstate__") else {}
    merges = state.get("merges", [])
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def vision_token_ids(tokenizer: Any) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def _mrope_section(head_dim: int) -> list[int]:
    """Temporal/height/width rotary sections; they must add up to head_dim / 2 (vLLM checks)."""
    return [head_dim // 4, head_dim // 8, head_dim // 8]


def _text_config(tokenizer: Any, hidden: int, layers: int, heads: int, positions: int) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "max_position_embeddings": positions,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": _mrope_section(hidden // heads),
        },
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }


def tiny_config(  # noqa: PLR0917
    kind: str, tokenizer: Any, hidden: int = 32, layers: int = 2, heads: int = 4, positions: int = 32768
) -> Any:
    """`heads` sets head_dim = hidden / heads (vLLM's CPU attention needs 64); `positions` the context."""
    text = _text_config(tokenizer, hidden, layers, heads, positions)
    if kind == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [1],
            "window_size": 56,
            "patch_size": 14,
        }
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **vision_token_ids(tokenizer))
    from transformers import Qwen3VLConfig

    text["head_dim"] = hidden // heads
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": hidden,
        "deepstack_visual_indexes": [1],
        "num_position_embeddings": 64,
        "patch_size": 16,
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, **vision_token_ids(tokenizer))


def allow_torchvision_without_ops() -> None:
    """Let a torchvision whose C operators cannot load (a CUDA wheel beside a CPU torch) import.

    Its import registers fake kernels for `torchvision::nms` and friends, which fails when the
    extension did not load. Qwen-VL's processors only use its pure-Python transforms, so in tests
    the registrations are skipped. Test set-up only: product code must not need this.
    """
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision  # noqa: F401


HUB_FIXTURES = Path(__file__).parent / "fixtures" / "qwen_hub"
# The hub files each kind of checkpoint ships (see fixtures/qwen_hub/README.md).
HUB_FILES = {
    "qwen2_5_vl_7b_instruct": {
        "chat_template.json": "qwen2_5_vl_7b_instruct/chat_template.json",
        "preprocessor_config.json": "qwen2_5_vl_7b_instruct/preprocessor_config.json",
    },
    "qwen3_vl_8b_instruct": {
        "chat_template.json": "qwen3_vl_8b_instruct/chat_template.json",
        "preprocessor_config.json": "qwen3_vl_8b_instruct/preprocessor_config.json",
        "video_preprocessor_config.json": "qwen3_vl_8b_instruct/video_preprocessor_config.json",
    },
    "qwen3_vl_thinking": {
        "chat_template.json": "qwen3_vl_thinking/chat_template.json",
        "preprocessor_config.json": "qwen3_vl_8b_instruct/preprocessor_config.json",
        "video_preprocessor_config.json": "qwen3_vl_8b_instruct/video_preprocessor_config.json",
    },
}
HUB_KIND = {"qwen2_5_vl_7b_instruct": "qwen2_5_vl", "qwen3_vl_8b_instruct": "qwen3_vl", "qwen3_vl_thinking": "qwen3_vl"}


def hub_template(hub: str) -> str:
    """The chat template text of a shipped hub checkpoint."""
    import json

    return json.loads((HUB_FIXTURES / HUB_FILES[hub]["chat_template.json"]).read_text())["chat_template"]


def build_tiny_qwen(  # noqa: PLR0917
    directory: Path,
    kind: str = "qwen2_5_vl",
    seed: int = 0,
    hub: str | None = None,
    hidden: int = 32,
    heads: int = 4,
    positions: int = 32768,
) -> Path:
    """Write a tiny random-weight `kind` checkpoint (`qwen2_5_vl` or `qwen3_vl`) to `directory`.

    With `hub`, the directory holds that hub checkpoint's own chat template and (video)
    preprocessor configs, laid out as on the hub, instead of the tests' own small ones."""
    allow_torchvision_without_ops()
    import shutil

    import torch
    from transformers import AutoModelForImageTextToText

    kind = HUB_KIND[hub] if hub else kind
    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer()
    config = tiny_config(kind, tokenizer, hidden=hidden, heads=heads, positions=positions)
    model = AutoModelForImageTextToText.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    patch = 14 if kind == "qwen2_5_vl" else 16
    unit = (patch * 2) ** 2  # pixels of one merged visual token
    processor = qwen_processor(kind, tokenizer, min_pixels=4 * unit, max_pixels=16 * unit)
    processor.save_pretrained(directory)
    if hub:
        for name in ("processor_config.json", "chat_template.jinja", "preprocessor_config.json"):
            (directory / name).unlink(missing_ok=True)
        for name, source in HUB_FILES[hub].items():
            shutil.copyfile(HUB_FIXTURES / source, directory / name)
    return directory


def qwen_processor(kind: str, tokenizer: Any, min_pixels: int, max_pixels: int) -> Any:
    """Image and video processors with the given pixel limits, the tokenizer and the checkpoint's
    chat template (Qwen2.5-VL's own, which ignores tools; the tool-aware one for Qwen3-VL)."""
    from vrb_agent.judges.qwen_loading import QWEN_TOOL_TEMPLATE

    pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels, "patch_size": 14 if kind == "qwen2_5_vl" else 16}
    return _processor_class(kind)(
        image_processor=_pil_image_processor_class()(**pixels),
        tokenizer=tokenizer,
        video_processor=_video_processor_class(kind)(**pixels),
        chat_template=QWEN25_VL_TEMPLATE if kind == "qwen2_5_vl" else QWEN_TOOL_TEMPLATE,
    )


def _pil_image_processor_class() -> Any:
    """Qwen2-VL's PIL/numpy image processor (`...Pil` in newer transformers 5 releases, the plain name before)."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

        return Qwen2VLImageProcessor
    return Qwen2VLImageProcessorPil


def _processor_class(kind: str) -> Any:
    from transformers import Qwen2_5_VLProcessor, Qwen3VLProcessor

    return Qwen2_5_VLProcessor if kind == "qwen2_5_vl" else Qwen3VLProcessor


def _video_processor_class(kind: str) -> Any:
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    return Qwen2VLVideoProcessor if kind == "qwen2_5_vl" else Qwen3VLVideoProcessor
