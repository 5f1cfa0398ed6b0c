"""Built-in replies, per language, used where a flow does not give its own.

``llm_trouble`` is said when the LLM call fails (``fallback.failure_reply``): an
apology for our side, never "I didn't understand you"."""

from __future__ import annotations

BUILTIN: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "no_match": (
            "Sorry, I didn't get that.",
            "Sorry, I still didn't understand. Could you say it another way?",
        ),
        "invalid": ("Sorry, that doesn't look right.",),
        "too_long": ("That message is too long for me. Could you say it in fewer words?",),
        "action_error": ("Sorry, something went wrong on our side.",),
        "ended": ("This conversation has ended.",),
        "budget": ("Sorry, I can't answer more open questions in this chat.",),
        "am_or_pm": ("In the morning or in the evening? Please say it with am or pm, like 7pm.",),
        "llm_trouble": (
            "Sorry, something went wrong on my side and I couldn't read that. "
            "Please try again in a moment.",
            "Sorry, I'm still having trouble on my side. Please try again in a little while.",
        ),
    },
    "zh": {
        "no_match": ("抱歉，我没听懂。", "抱歉，我还是没明白，能换个说法吗？"),
        "invalid": ("抱歉，这个回答好像不对。",),
        "too_long": ("消息太长了，请说得简短一些。",),
        "action_error": ("抱歉，我们这边出了点问题。",),
        "ended": ("本次对话已结束。",),
        "budget": ("抱歉，本次对话无法再回答更多开放式问题。",),
        "am_or_pm": ("是上午还是晚上？请说清楚，比如“晚上7点”。",),
        "llm_trouble": (
            "抱歉，我这边出了点问题，没能处理这条消息，请稍后再试。",
            "抱歉，我这边的问题还没有解决，请过一会儿再试。",
        ),
    },
}


def builtin(language: str, key: str) -> tuple[str, ...]:
    return BUILTIN.get(language, BUILTIN["en"])[key]
