import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import dialogue

FLOWS = Path(__file__).resolve().parent.parent / "flows"


def test_all_is_sorted_and_complete() -> None:
    assert dialogue.__all__ == sorted(dialogue.__all__)
    for name in dialogue.__all__:  # the lazy ones too (the compile stage loads on first use)
        getattr(dialogue, name)
    public = {name for name in vars(dialogue) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(dialogue, name)).__name__ == "module"}
    assert set(dialogue.__all__) == public - modules


def test_the_compile_stage_loads_when_first_named() -> None:
    code = (
        "import sys, dialogue\n"
        "assert 'dialogue.authoring' not in sys.modules\n"
        "from dialogue import load_flow, compile_flows\n"
        "assert load_flow.__module__ == 'dialogue.authoring.loader'\n"
        "assert compile_flows.__module__ == 'dialogue.compiler.build'\n"
        "try:\n"
        "    dialogue.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert \"no attribute 'no_such_name'\" in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_error_derives_from_dialogue_error() -> None:
    for name in dialogue.__all__:
        obj = getattr(dialogue, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, dialogue.DialogueError), name


def test_import_has_no_side_effects_and_no_openai() -> None:
    code = (
        "import logging, os, sys, warnings\n"
        "env = dict(os.environ); filters = list(warnings.filters)\n"
        "import dialogue\n"
        "for heavy in ('openai', 'transitions', 'asyncio', 'yaml', 'dialogue.compiler'):\n"
        "    assert heavy not in sys.modules, heavy + ' imported'\n"
        "import dialogue.cli  # the server's extra only when 'dialogue serve' runs\n"
        "for heavy in ('fastapi', 'starlette', 'uvicorn', 'prometheus_client'):\n"
        "    assert heavy not in sys.modules, heavy + ' imported'\n"
        "assert dict(os.environ) == env\n"
        "assert warnings.filters == filters\n"
        "assert logging.getLogger('transitions').level == logging.NOTSET\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_custom_llm_client_needs_only_public_names() -> None:
    """An LLM client for another API is written against ``dialogue``'s own names."""

    class Canned:
        def __init__(self) -> None:
            self.requests: list[dialogue.LLMRequest] = []

        def complete(self, request: dialogue.LLMRequest) -> dialogue.LLMResponse:
            self.requests.append(request)
            usage = dialogue.Usage(prompt_tokens=10, completion_tokens=2, total_tokens=12)
            return dialogue.LLMResponse(
                content=None,
                data=None,
                failure=dialogue.LLMFailure("server_error", "canned", status=503),
                usage=usage,
                model=request.settings.model,
                seconds=0.0,
                finish_reason=None,
            )

        async def acomplete(self, request: dialogue.LLMRequest) -> dialogue.LLMResponse:
            return self.complete(request)

        def astream(self, request: dialogue.LLMRequest) -> dialogue.LLMStream:
            async def events() -> AsyncIterator[str | dialogue.LLMResponse]:
                yield self.complete(request)

            return dialogue.LLMStream(events())

    canned = Canned()
    client: dialogue.LLMClient = canned
    engine = dialogue.Engine.from_path(FLOWS / "customer_service.yaml", llm=client)
    engine.start("s")
    result = engine.handle("s", "tell me a joke")
    assert len(canned.requests) == 1
    assert isinstance(canned.requests[0].settings, dialogue.LLMSettings)
    assert result.trace.llm is not None and result.trace.llm.outcome == "failed"


def test_astream_gives_public_types() -> None:
    import asyncio

    flow = dialogue.parse_flow("flow: f\nstart: a\nstates: {a: {say: Hi}}\n")
    engine = dialogue.Engine(dialogue.compile_flows([flow]))

    async def run() -> list[dialogue.Delta]:
        stream = engine.astream("s", "hello")
        assert isinstance(stream, dialogue.TurnStream)
        return [delta async for delta in stream]

    assert asyncio.run(run()) == [dialogue.Delta(0, "Hi")]
