"""The pair block: the question and both answers between delimiter tags, written and read here.

The judge graph writes it into the first user message (`agents.prompts`); offline judges such as
`sim` read it back. Both go through this one module, below every layer, so the format has one owner:

    <question>\\n{question}\\n</question>\\n\\n<answer_a>\\n{first}\\n</answer_a>\\n\\n<answer_b>\\n{second}\\n</answer_b>

`first`/`second` are the responses in presentation order. Any of those six tags inside the
user-supplied texts is escaped (its `<` becomes `&lt;`, reversibly) so a response cannot close its
block and smuggle text outside it.
"""

from __future__ import annotations

import re

TAG_NAMES = ("question", "answer_a", "answer_b")
_TAG = r"(?=\s*/?\s*(?:question|answer_a|answer_b)\b[^<>]*>)"
_ESCAPE = re.compile(r"(<|&(?:amp;)*lt;)" + _TAG, re.IGNORECASE)
_UNESCAPE = re.compile(r"&((?:amp;)*)lt;" + _TAG, re.IGNORECASE)
_PAIR = re.compile(
    r"<question>\n(.*?)\n</question>\n\n<answer_a>\n(.*?)\n</answer_a>\n\n<answer_b>\n(.*?)\n</answer_b>",
    re.DOTALL,
)


def escape_tags(text: str) -> str:
    """Neutralise our delimiter tags inside user text; reversible by `unescape_tags`."""
    return _ESCAPE.sub(lambda m: "&lt;" if m.group(1) == "<" else "&amp;" + m.group(1)[1:], text)


def unescape_tags(text: str) -> str:
    """Invert `escape_tags`."""
    return _UNESCAPE.sub(lambda m: "&" + m.group(1)[4:] + "lt;" if m.group(1) else "<", text)


def pair_block(question: str, first: str, second: str) -> str:
    """The question and both answers, in presentation order, between delimiters."""
    q, a, b = (escape_tags(t) for t in (question, first, second))
    return f"<question>\n{q}\n</question>\n\n<answer_a>\n{a}\n</answer_a>\n\n<answer_b>\n{b}\n</answer_b>"


def extract_pair(text: str) -> tuple[str, str, str] | None:
    """(question, answer_a, answer_b) as presented, unescaped; None when the text holds no block."""
    match = _PAIR.search(text)
    if match is None:
        return None
    q, a, b = (unescape_tags(g) for g in match.groups())
    return q, a, b
