"""Loading a local Qwen2.5-VL / Qwen3-VL checkpoint once per process (keyed by model, device and
dtype), with a chat template that renders tools.

Qwen2.5-VL's hub chat template ignores `tools=` (it predates tool use in the VL line, though the
models were trained on the hermes format), so a template that cannot render tools is replaced by
`QWEN_TOOL_TEMPLATE`, the Qwen3-VL format. torch and transformers (extra `[qwen]`) are imported on
first load, so choosing another backend never needs them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrb_agent.judges.base import ConfigError, choice_option

INSTALL_HINT = "pip install 'vrb-agent[qwen]'"
DTYPES = ("auto", "bfloat16", "float16", "float32")
MIN_TRANSFORMERS = (5, 0)  # the oldest release the tests pass on (make test-transformers-min)

QWEN_TOOL_TEMPLATE = """\
{%- macro render_content(content) -%}
{%- if content is string -%}{{- content -}}
{%- else -%}{%- for item in content -%}
{%- if item.type in ('image', 'image_url') or 'image' in item -%}<|vision_start|><|image_pad|><|vision_end|>
{%- elif item.type == 'video' or 'video' in item -%}<|vision_start|><|video_pad|><|vision_end|>
{%- elif 'text' in item -%}{{- item.text -}}
{%- endif -%}{%- endfor -%}{%- endif -%}
{%- endmacro -%}
{%- if tools -%}
{{- '<|im_start|>system\\n' -}}
{%- if messages[0].role == 'system' -%}{{- render_content(messages[0].content) + '\\n\\n' -}}{%- endif -%}
{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' -}}
{{- 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' -}}
{%- for tool in tools -%}{{- '\\n' -}}{{- tool | tojson -}}{%- endfor -%}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within '
    '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}'
    '\\n</tool_call><|im_end|>\\n' -}}
{%- elif messages[0].role == 'system' -%}
{{- '<|im_start|>system\\n' + render_content(messages[0].content) + '<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
{%- set content = render_content(message.content) -%}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) -%}
{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' -}}
{%- elif message.role == 'assistant' -%}
{{- '<|im_start|>assistant\\n' + content -}}
{%- for tool_call in message.tool_calls or [] -%}
{%- if (loop.first and content) or not loop.first -%}{{- '\\n' -}}{%- endif -%}
{%- if tool_call.function -%}{%- set tool_call = tool_call.function -%}{%- endif -%}
{{- '<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' -}}
{%- if tool_call.arguments is string -%}{{- tool_call.arguments -}}
{%- else -%}{{- tool_call.arguments | tojson -}}{%- endif -%}
{{- '}\\n</tool_call>' -}}
{%- endfor -%}
{{- '<|im_end|>\\n' -}}
{%- elif message.role == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
{{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' -}}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
"""
_PROBE_TOOL = "vrb_probe_tool"


@dataclass
class LoadedQwen:
    """A model and its processor, shared by every backend instance that asks for the same key."""

    model: Any
    processor: Any
    device: str
    dtype: str
    chat_template: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Hugging Face fast tokenizers are not thread-safe ("Already borrowed"): concurrent judgments
    # prepare and decode one at a time (a short wait beside generation, which has its own lock).
    text_lock: threading.Lock = field(default_factory=threading.Lock)
    generate_calls: int = 0


_LOADED: dict[tuple[str, str, str], LoadedQwen] = {}
_LOADED_LOCK = threading.Lock()


def _import_extra() -> tuple[Any, Any]:
    """torch and transformers, or a ConfigError that says how to install them."""
    try:
        import torch  # noqa: PLC0415
        import torchvision  # noqa: F401, PLC0415 - Qwen-VL's image and video processors need it
        import transformers  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(f"the qwen backend needs the [qwen] extra ({exc.name} is missing): {INSTALL_HINT}") from None
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        raise ConfigError(
            f"torchvision's C operators do not load beside torch {torch.__version__} (the two wheels were not "
            "built together, e.g. PyPI's CUDA torchvision beside a CPU torch): install a matching pair in one "
            "command, e.g. pip install torch==2.14.1 torchvision==0.29.1, then pip install 'vrb-agent[qwen]'"
        ) from None
    version = tuple(int(p) for p in transformers.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_TRANSFORMERS:
        raise ConfigError(
            f"the qwen backend needs transformers>=5.0 (found {transformers.__version__}; 4.x mis-times "
            f"Qwen2.5-VL clips and lays out Qwen3-VL video differently): {INSTALL_HINT}"
        )
    return torch, transformers


def resolve_device(torch: Any, device: str | None) -> str:
    """`None`/"auto" -> cuda when available, else cpu; an explicit device must exist."""
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for CUDA but torch sees no GPU; use device=cpu (-O device=cpu)")
    return device


def resolve_dtype(device: str, dtype: str | None) -> str:
    """`None`/"auto" -> bfloat16 on CUDA, float32 elsewhere (CPU kernels for half types are slow)."""
    if dtype in (None, "", "auto"):
        return "bfloat16" if device.startswith("cuda") else "float32"
    return choice_option("qwen", "dtype", dtype, DTYPES, "auto")


def load_qwen(model: str, device: str | None = None, dtype: str | None = None) -> LoadedQwen:
    """The process-wide model for (model, device, dtype), loaded on first use."""
    _check_model_path(model)
    torch, _ = _import_extra()
    device = resolve_device(torch, device)
    dtype = resolve_dtype(device, dtype)
    key = (model, device, dtype)
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _load(model, device, dtype)
            _LOADED[key] = loaded
    return loaded


def _load(model: str, device: str, dtype: str) -> LoadedQwen:
    try:
        from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: PLC0415

        processor = AutoProcessor.from_pretrained(model)
        network: Any = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"cannot load Qwen model {model!r}: {first_line(exc)}. Pass --model a Hugging Face hub id of a "
            "Qwen2.5-VL / Qwen3-VL checkpoint (e.g. Qwen/Qwen2.5-VL-7B-Instruct) or a local directory holding one"
        ) from None
    return prepare_loaded(network.to(device), processor)


def prepare_loaded(network: Any, processor: Any) -> LoadedQwen:
    """A model and processor made ready for judging: eval mode, a pad token, a tool-aware template."""
    network.eval()
    tokenizer = processor.tokenizer
    if getattr(tokenizer, "pad_token_id", None) is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = str(network.dtype).removeprefix("torch.")
    return LoadedQwen(network, processor, str(network.device), dtype, _tool_template(processor))


def _check_model_path(model: str) -> None:
    """A path-looking model that does not exist gets a precise message before any hub lookup."""
    looks_local = model.startswith(("/", ".", "~")) or model.count("/") > 1 or Path(model).exists()
    path = Path(model).expanduser()
    if looks_local and not path.is_dir():
        raise ConfigError(f"--model {model!r}: no such checkpoint directory")
    if looks_local and not (path / "config.json").is_file():
        raise ConfigError(f"--model {model!r}: directory has no config.json, so it is not a transformers checkpoint")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tool_template(processor: Any) -> str | None:
    """None when the checkpoint's own chat template renders `tools=`, else the hermes template."""
    probe = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    tool = {"type": "function", "function": {"name": _PROBE_TOOL, "description": "", "parameters": {}}}
    try:
        rendered = processor.apply_chat_template(probe, tools=[tool], tokenize=False, add_generation_prompt=True)
    except Exception:  # a template without tool support may also fail outright
        return QWEN_TOOL_TEMPLATE
    return None if _PROBE_TOOL in rendered else QWEN_TOOL_TEMPLATE
