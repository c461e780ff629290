"""Model backends behind one interface (DESIGN.md §3, §6); provider SDKs load only when used."""

from vrb_agent.judges.base import (
    AuthError,
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    RateLimitError,
    RefusalError,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    TransientError,
    Usage,
    VideoPart,
)
from vrb_agent.judges.registry import backend_names, get_backend, register_backend
from vrb_agent.judges.scripted import ScriptedBackend

__all__ = [
    "AuthError",
    "Backend",
    "BackendError",
    "Capabilities",
    "ConfigError",
    "ImagePart",
    "Message",
    "ModelReply",
    "ModelRequest",
    "RateLimitError",
    "RefusalError",
    "ScriptedBackend",
    "TextPart",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "TransientError",
    "Usage",
    "VideoPart",
    "backend_names",
    "get_backend",
    "register_backend",
]
