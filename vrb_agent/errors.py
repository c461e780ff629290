"""The root of every error vrb-agent raises on purpose, so callers can catch ours apart from bugs."""


class VrbError(Exception):
    """An error with a message meant for the user: it names what to change."""


class InputError(VrbError):
    """A wrong input the user gave (a flag's value, a text or JSON file): the CLI exits 2 (usage)."""
