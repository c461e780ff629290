"""Local Qwen2.5-VL / Qwen3-VL judges run in-process through Hugging Face transformers (extra `[qwen]`).

The same tools and verdict contract as the API backends, so an open judge is one flag away from a
proprietary one. The model is loaded once per process (keyed by model, device and dtype) and shared
by concurrent judgments: generation is serialised by a lock and runs in a worker thread so the
event loop stays free. Tools go in through the chat template's `tools=`; replies are parsed for
hermes-style `<tool_call>` blocks. `n` samples come from one `generate` call.

Qwen2.5-VL's hub chat template ignores `tools=` (it predates tool use in the VL line, though the
models were trained on the hermes format), so a template that cannot render tools is replaced by
`QWEN_TOOL_TEMPLATE`, the Qwen3-VL format.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vrb_agent.errors import VrbError
from vrb_agent.judges.base import (
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    Part,
    StopReason,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
    VideoPart,
    check_options,
    choice_option,
    flag,
    resolve_image,
    typed_option,
)
from vrb_agent.judges.budget import ContextOverflowError, Fit, VisionRules, fit_to_context
from vrb_agent.judges.hermes import parse_hermes_tool_calls
from vrb_agent.judges.thinking import prompt_opens_thinking, split_thinking, unfinished_message

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
INSTALL_HINT = "pip install 'vrb-agent[qwen]'"
DTYPES = ("auto", "bfloat16", "float16", "float32")
OPTIONS = (
    "model",
    "device",
    "dtype",
    "native_video",
    "max_images",
    "sampling",
    "max_model_len",
    "min_pixels",
    "max_pixels",
)
SAMPLING = ("auto", "request")
MIN_TRANSFORMERS = (5, 0)  # the oldest release the tests pass on (make test-transformers-min)
VIDEO_MAX_SIDE = 768  # clip frames are decoded at most this large; the processor's pixel cap applies after

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
# Qwen3-VL's processor expands a video into `<t seconds><|vision_start|>pads<|vision_end|>` per frame
# group. Given the template's wrapped slot, transformers 5.0 replaces the whole slot and later 5.x
# releases only the pad (an extra outer vision_start/end); a bare pad lays out the same on both.
QWEN3_VIDEO_SLOT = "<|vision_start|><|video_pad|><|vision_end|>"


# ---- loading (once per process) -----------------------------------------------------------------


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
        network = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"cannot load Qwen model {model!r}: {_first_line(exc)}. Pass --model a Hugging Face hub id of a "
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


def _first_line(exc: BaseException) -> str:
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


# ---- request -> chat messages + pixels ------------------------------------------------------------


@dataclass
class ChatInputs:
    """A request in the shape `apply_chat_template` and the processor want."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    images: list[Any] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)
    video_metadata: list[Any] = field(default_factory=list)


class _ChatBuilder:
    """Translates the neutral message model into Qwen chat messages, collecting pixels in order.

    With `rules`, every image is resized to the size the processor's own resize gives it under
    the pixel cap `max_pixels` (so a lowered cap or raised minimum takes effect; the processor
    then leaves it as it is)."""

    def __init__(self, request: ModelRequest, rules: VisionRules | None = None, max_pixels: int | None = None) -> None:
        self.request = request
        self.rules = rules
        self.max_pixels = max_pixels
        self.out = ChatInputs(messages=[], tools=_tool_specs(request))

    def build(self) -> ChatInputs:
        if self.request.system:
            self.out.messages.append({"role": "system", "content": [{"type": "text", "text": self.request.system}]})
        for message in self.request.messages:
            self._add(message)
        return self.out

    def _add(self, message: Message) -> None:
        if message.role == "tool":
            for result in message.tool_results:
                self.out.messages.append({"role": "tool", "content": self._result_content(result)})
            return
        entry: dict[str, Any] = {"role": message.role, "content": self._content(message.parts)}
        if message.reasoning:  # thinking templates re-render it inside <think> between tool turns
            entry["reasoning_content"] = message.reasoning
        if message.tool_calls:
            entry["tool_calls"] = [_call_entry(call) for call in message.tool_calls]
        self.out.messages.append(entry)

    def _result_content(self, result: ToolResult) -> list[dict[str, Any]]:
        content = self._content(result.parts)
        if result.is_error:
            content.insert(0, {"type": "text", "text": f"error from {result.name}: "})
        return content or [{"type": "text", "text": "(no output)"}]

    def _content(self, parts: list[Part]) -> list[dict[str, Any]]:
        """Parts in order, one per line (as `Message.text` joins them)."""
        content: list[dict[str, Any]] = []
        for part in parts:
            if content:
                content.append({"type": "text", "text": "\n"})
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.extend(self._image(part))
            elif isinstance(part, VideoPart):
                content.extend(self._video(part))
        return content

    def _image(self, part: ImagePart) -> list[dict[str, Any]]:
        from PIL import Image  # noqa: PLC0415

        image, label = resolve_image(self.request, part)
        picture = Image.fromarray(image.to_array())
        if self.rules is not None:
            height, width = self.rules.resized(image.height, image.width, self.max_pixels)
            if (height, width) != (image.height, image.width):
                picture = picture.resize((width, height), Image.Resampling.BICUBIC)
        self.out.images.append(picture)
        return [{"type": "text", "text": f"{label}: " if label else ""}, {"type": "image"}]

    def _video(self, part: VideoPart) -> list[dict[str, Any]]:
        frames, metadata = clip_frames(part)
        self.out.videos.append(frames)
        self.out.video_metadata.append(metadata)
        label = part.label or f"clip {part.start:.2f}-{part.end:.2f}s at {part.fps:g} fps"
        return [{"type": "text", "text": f"{label}: "}, {"type": "video"}]


def clip_frames(part: VideoPart, max_side: int = VIDEO_MAX_SIDE) -> tuple[np.ndarray, Any]:
    """Frames of a clip and the metadata that gives the model their true times.

    Indices stay absolute (Qwen3-VL writes `<t seconds>` from them); `total_num_frames` is the
    clip's own length in source frames, so the sampled rate Qwen2.5-VL derives is the clip's.
    """
    from transformers.video_utils import VideoMetadata  # noqa: PLC0415

    from vrb_agent.tools.media import open_media  # noqa: PLC0415

    if part.end <= part.start or part.fps <= 0:
        raise VrbError(f"video part needs end > start and fps > 0 (got {part.start}-{part.end}s at {part.fps} fps)")
    media = open_media(part.media_path)
    count = max(2, round((part.end - part.start) * part.fps))
    count += count % 2  # Qwen merges frames in temporal pairs
    times = [part.start + i * (part.end - part.start) / count for i in range(count)]
    frames = media.frames_at(times, max_side=max_side)
    span = max(1, round((part.end - part.start) * media.fps))
    metadata = VideoMetadata(
        total_num_frames=span,
        fps=media.fps,
        width=frames[0].image.shape[1],
        height=frames[0].image.shape[0],
        duration=part.end - part.start,
        frames_indices=[f.index for f in frames],
    )
    return np.stack([f.image for f in frames]), metadata


def _tool_specs(request: ModelRequest) -> list[dict[str, Any]]:
    """Tools as the template wants them; tool_choice narrows them (a local model cannot be forced)."""
    tools: list[ToolSpec] = request.tools
    if request.tool_choice == "none":
        tools = []
    elif request.tool_choice not in ("auto", "required"):
        tools = [t for t in tools if t.name == request.tool_choice] or tools
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def _call_entry(call: ToolCall) -> dict[str, Any]:
    return {"type": "function", "function": {"name": call.name or "unknown", "arguments": call.arguments}}


# ---- the backend ----------------------------------------------------------------------------------


class QwenBackend(Backend):
    """Qwen2.5-VL / Qwen3-VL via transformers, in this process.

    Thinking checkpoints (whose template opens `<think>` in the prompt) are read through
    `split_thinking`: a reply cut off inside its reasoning is `unfinished`, never an answer. Before
    generating, the request is fitted to the model's context (`max_model_len`, else the config's
    `max_position_embeddings`) with the processor's own resize rules. Sampling: `auto` samples with
    the request's temperature when it is above 0 and otherwise with the checkpoint's
    generation_config (greedy when it does not sample); `request` always uses the request's
    temperature (0 = greedy), as the CLI does when --temperature is given.
    """

    name = "qwen"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        dtype: str | None = None,
        native_video: bool = False,
        max_images: int = 64,
        sampling: str = "auto",
        max_model_len: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        loaded: LoadedQwen | None = None,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model)
        self.loaded = loaded or load_qwen(model, device, dtype)
        self.native_video = native_video
        self.max_images = max_images
        self.sampling = choice_option(self.name, "sampling", sampling, SAMPLING, "auto")
        self.context, self.context_source = self._context_length(max_model_len)
        self.rules = vision_rules(self.loaded.processor, min_pixels, max_pixels)
        # Extra `generate` arguments (repetition_penalty, min_new_tokens, ...), applied last.
        self.generation_kwargs = dict(generation_kwargs or {})

    @classmethod
    def from_options(cls, **options: Any) -> QwenBackend:
        """Build from `get_backend("qwen", ...)` / `--backend-option KEY=VALUE`; a typo is a ConfigError.
        Device and dtype fall back to `VRB_QWEN_DEVICE` / `VRB_QWEN_DTYPE`, then to automatic."""
        given = check_options(cls.name, options, OPTIONS)
        numbers = {
            key: typed_option(cls.name, key, given.get(key), int, None)
            for key in ("max_model_len", "min_pixels", "max_pixels")
        }
        return cls(
            given.get("model") or DEFAULT_MODEL,
            device=given.get("device") or os.environ.get("VRB_QWEN_DEVICE"),
            dtype=given.get("dtype") or os.environ.get("VRB_QWEN_DTYPE"),
            native_video=typed_option(cls.name, "native_video", given.get("native_video"), flag, False),
            max_images=typed_option(cls.name, "max_images", given.get("max_images"), int, 64),
            sampling=given.get("sampling", "auto"),
            **numbers,
        )

    @classmethod
    def from_model(cls, network: Any, processor: Any, name: str = "in-memory", **options: Any) -> QwenBackend:
        """Judge with a model already in memory (a fine-tune, or one built from a config) instead of
        loading a checkpoint; it is not shared through the process-wide cache."""
        return cls(name, loaded=prepare_loaded(network, processor), **options)

    def _context_length(self, max_model_len: int | None) -> tuple[int, str]:
        """The model's context in tokens and where that number comes from (for messages)."""
        if max_model_len is not None:
            if max_model_len < 1:
                raise ConfigError(f"backend 'qwen': option max_model_len={max_model_len} must be a positive integer")
            return max_model_len, "option max_model_len"
        config = self.loaded.model.config
        text = getattr(config, "text_config", None) or config
        return int(text.max_position_embeddings), "max_position_embeddings in the checkpoint's config.json"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            images_in_tool_results=True,
            native_video=self.native_video,
            max_images_per_request=self.max_images,
            native_n=True,
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.loaded.device, "dtype": self.loaded.dtype}

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Run generation in a worker thread; concurrent calls queue on the model's lock."""
        return await asyncio.to_thread(self.generate, request)

    def generate(self, request: ModelRequest) -> ModelReply:
        """One blocking model call: `request.n` samples from a single `generate`."""
        started = time.perf_counter()
        try:
            with self.loaded.text_lock:
                fit = self.fit(request)
                chat = _ChatBuilder(fit.request, self.rules, fit.max_pixels).build()
                prompt = self._render(chat)
                inputs = self._encode(chat, prompt)
            prompt_tokens = int(inputs["input_ids"].shape[1])
            self._check_context(prompt_tokens, request.max_output_tokens)
            with self.loaded.lock:
                sequences = self._run_generate(inputs, request)
                self.loaded.generate_calls += 1
        except (RuntimeError, ValueError) as exc:  # CUDA OOM, an image the processor rejects, ...
            raise BackendError(
                f"qwen generation failed on {self.loaded.device} ({type(exc).__name__}: {_first_line(exc)}); "
                "fewer or smaller images (--frames, --max-images, --max-side) or a smaller model may help"
            ) from exc
        latency = time.perf_counter() - started
        thinking = prompt_opens_thinking(prompt)
        with self.loaded.text_lock:
            replies = [
                self._reply(
                    row[prompt_tokens:],
                    latency,
                    prompt_tokens if i == 0 else 0,
                    len(chat.images) if i == 0 else 0,
                    thinking=thinking,
                    budget=request.max_output_tokens,
                )
                for i, row in enumerate(sequences)
            ]
        while len(replies) < request.n:  # greedy decoding: every sample is the same sequence
            replies.append(replies[0].model_copy(update={"usage": Usage(output_tokens=replies[0].usage.output_tokens)}))
        return replies[0].model_copy(update={"alternatives": replies[1:], "notes": fit.notes})

    def fit(self, request: ModelRequest) -> Fit:
        """`request` fitted to the context: text tokens counted by the tokenizer on the rendered
        prompt (each image still one pad token), images by the processor's resize rules."""
        tokenizer = self.loaded.processor.tokenizer

        def count_text(candidate: ModelRequest) -> int:
            chat = _ChatBuilder(candidate).build()
            return len(tokenizer(self._render(chat))["input_ids"]) - len(chat.images)

        return fit_to_context(request, self.rules, count_text, self.context, self.context_source)

    def _check_context(self, prompt_tokens: int, max_output_tokens: int) -> None:
        """The exact count after encoding (native video included) against the context."""
        if prompt_tokens + max_output_tokens > self.context:
            raise ContextOverflowError(
                f"the prompt is {prompt_tokens} tokens and --max-output-tokens reserves {max_output_tokens}, "
                f"more than the model's {self.context}-token context ({self.context_source}): lower --frames, "
                "--max-images, --max-side or --max-output-tokens"
            )

    def render(self, request: ModelRequest) -> str:
        """The exact prompt text the model sees for `request` (before image tokens are expanded)."""
        return self._render(_ChatBuilder(request).build())

    def _render(self, chat: ChatInputs) -> str:
        return self.loaded.processor.apply_chat_template(
            chat.messages,
            tools=chat.tools or None,
            chat_template=self.loaded.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )

    def _encode(self, chat: ChatInputs, prompt: str | None = None) -> Any:
        """Prompt text plus pixels -> model inputs (image/video pads expanded by the processor)."""
        processor = self.loaded.processor
        text = self._render(chat) if prompt is None else prompt
        if chat.videos and type(processor).__name__.startswith("Qwen3VL"):
            text = text.replace(QWEN3_VIDEO_SLOT, "<|video_pad|>")
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", "padding": True}
        if chat.images:
            kwargs["images"] = chat.images
        if chat.videos:
            kwargs["videos"] = chat.videos
            kwargs["video_metadata"] = chat.video_metadata
            kwargs["do_sample_frames"] = False
        return processor(**kwargs).to(self.loaded.device)

    def _run_generate(self, inputs: Any, request: ModelRequest) -> Any:
        import torch  # noqa: PLC0415

        options = self._sampling_options(request)
        if options.get("do_sample") and request.seed is not None:
            torch.manual_seed(request.seed)
        options.update(self.generation_kwargs)
        with torch.inference_mode():
            return self.loaded.model.generate(**inputs, **options).cpu()

    def _sampling_options(self, request: ModelRequest) -> dict[str, Any]:
        """`generate` arguments: the request's temperature, or the checkpoint's own sampling."""
        options: dict[str, Any] = {"max_new_tokens": request.max_output_tokens}
        if request.temperature > 0:
            return {
                **options,
                "do_sample": True,
                "temperature": request.temperature,
                "top_p": 1.0,
                "top_k": 0,
                "num_return_sequences": request.n,
            }
        config = self.loaded.model.generation_config
        if self.sampling == "auto" and getattr(config, "do_sample", False):
            return {**options, "do_sample": True, "num_return_sequences": request.n}  # its temperature/top_p/top_k
        # greedy: clear sampling defaults a checkpoint's generation_config may carry
        return {**options, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def _reply(
        self,
        tokens: Any,
        latency: float,
        prompt_tokens: int,
        images: int,
        *,
        thinking: bool = False,
        budget: int = 0,
    ) -> ModelReply:
        """One generated sequence as a reply; the prompt is counted once, on the first sample
        (one prefill serves all samples), so summed usage is the real cost. `thinking`: the prompt
        ended inside `<think>`; a reply that never closes it is `unfinished`."""
        tokenizer = self.loaded.processor.tokenizer
        ids = tokens.tolist()
        stops = _stop_ids(self.loaded.model, tokenizer)
        end = next((i for i, token in enumerate(ids) if token in stops), None)
        produced = ids if end is None else ids[:end]
        thought = split_thinking(tokenizer.decode(produced, skip_special_tokens=True), thinking)
        usage = Usage(
            input_tokens=prompt_tokens,
            output_tokens=len(produced) + (0 if end is None else 1),
            images=images,
            calls=1 if prompt_tokens else 0,
        )
        base = {"usage": usage, "latency_s": latency, "model": self.model, "reasoning": thought.reasoning}
        if not thought.finished:  # no answer yet: neither its text nor its draft calls may be read
            message = unfinished_message(end is None, budget or None)
            return ModelReply(stop_reason="length" if end is None else "end", unfinished=message, **base)
        text, calls = parse_hermes_tool_calls(thought.answer)
        stop: StopReason = "length" if end is None else ("tool_calls" if calls else "end")
        return ModelReply(text=text, tool_calls=calls, stop_reason=stop, **base)


def vision_rules(processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> VisionRules:
    """The image processor's resize rules, with the `min_pixels` / `max_pixels` options applied
    (the minimum may be raised; the maximum only lowered, since the processor clamps to its own)."""
    image = processor.image_processor
    size = getattr(image, "size", None) or {}
    own_min = int(size.get("shortest_edge") or getattr(image, "min_pixels", None) or 56 * 56)
    own_max = int(size.get("longest_edge") or getattr(image, "max_pixels", None) or 28 * 28 * 16384)
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and value < 1:
            raise ConfigError(f"backend 'qwen': option {name}={value} must be a positive number of pixels")
    low = max(own_min, min_pixels or own_min)
    high = min(own_max, max_pixels or own_max)
    if low > high:
        raise ConfigError(f"backend 'qwen': min_pixels {low} is above max_pixels {high}")
    return VisionRules(
        patch_size=int(image.patch_size), merge_size=int(image.merge_size), min_pixels=low, max_pixels=high
    )


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a sequence (eos of the generation config and of the tokenizer, and pad)."""
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(value)
    if tokenizer.pad_token_id is not None:
        ids.add(tokenizer.pad_token_id)
    return ids
