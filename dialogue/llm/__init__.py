"""The LLM: the client protocol, the OpenAI client (the only ``openai`` import, made lazily),
reading answers, and the engine's service (offline mode, cache, streaming)."""
