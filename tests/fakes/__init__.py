"""Loopback servers speaking the wire protocols of OpenAI, Anthropic and Gemini, for SDK-level tests."""
