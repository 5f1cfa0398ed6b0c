"""The pytest plugin, driven through pytester: collection, reports, LLM scripts, coverage."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest_plugins = ["pytester"]

PIZZA = """\
flow: pizza
start: menu
slots:
  size:
    type: enum
    values: [small, large]
    ask: "Small or large?"
    invalid: "Please say small or large."
intents:
  order: {keywords: [pizza, order]}
  bye: {keywords: [bye]}
states:
  menu:
    say: "Hi! Want a pizza?"
    on: {order: ordering, bye: done}
  ordering:
    collect: [size]
    call: {action: place_order, with: {size: size}, into: ticket, on_error: sorry}
    next:
      - say: "A {{ size }} pizza, ticket {{ ticket }}."
        goto: menu
  sorry: {say: "The oven is broken.", final: true}
  done: {say: "Bye!", final: true}
fallback:
  no_match: ["Sorry?"]
"""

TESTS = """\
flow: pizza.yaml
actions:
  place_order: {returns: T1}
conversations:
  - name: greets
    steps:
      - bot: "Hi! Want a pizza?"
        state: menu
  - name: order a large pizza
    steps:
      - user: a pizza please
        bot: "Small or large?"
        intent: order
        state: ordering
      - user: large
        bot: ["A large pizza, ticket T1.", "Hi! Want a pizza?"]
        slots: {size: large, ticket: T1}
        calls: [place_order]
        state: menu
  - name: the oven is broken
    actions:
      place_order: {raises: "no gas"}
    steps:
      - user: order
      - user: small
        bot_contains: "The oven is broken."
        ended: true
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    """Inner runs: pytest-asyncio (if installed) would warn about its unset loop scope."""
    pytester.makeini("[pytest]\naddopts = -p no:asyncio\n")


@pytest.fixture
def pizza(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", pizza=PIZZA, test_pizza=TESTS)
    return pytester


def test_every_conversation_is_an_item_with_a_readable_id(pizza: pytest.Pytester) -> None:
    (pizza.path / "more.test.yaml").write_text(TESTS)
    pizza.makefile(".yaml", test_not_ours="jobs: {build: {runs-on: ubuntu}}\n")
    result = pizza.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "more.test.yaml::greets",
            "more.test.yaml::order a large pizza",
            "more.test.yaml::the oven is broken",
            "test_pizza.yaml::greets",
            "test_pizza.yaml::order a large pizza",
            "test_pizza.yaml::the oven is broken",
            "6 tests collected*",
        ]
    )


def test_conversations_pass(pizza: pytest.Pytester) -> None:
    result = pizza.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["test_pizza.yaml::order a large pizza PASSED*"])


def test_k_selects_conversations(pizza: pytest.Pytester) -> None:
    result = pizza.runpytest("-k", "oven or greets")
    result.assert_outcomes(passed=2, deselected=1)


FAILING = """\
flow: pizza.yaml
actions:
  place_order: {returns: T1}
conversations:
  - name: wrong expectations
    steps:
      - user: a pizza please
        state: ordering
      - user: large
        bot_contains: small pizza
        slots: {size: small}
        state: ordering
  - name: never runs with -x
    steps:
      - user: bye
"""

REPORT = """\
conversation 'wrong expectations' failed at step 2 (test_fail.yaml:9)

   bot> Hi! Want a pizza?
  user> a pizza please
   bot> Small or large?
  user> large
   bot> A large pizza, ticket T1.
   bot> Hi! Want a pizza?
        [slot] ordering -> menu | size='large', ticket='T1'

test_fail.yaml:10: bot_contains
    expected: a reply containing "small pizza"
    actual:   "A large pizza, ticket T1."
              "Hi! Want a pizza?"
test_fail.yaml:11: slots.size
    expected: "small"
    actual:   "large"
test_fail.yaml:12: state
    expected: "ordering"
    actual:   "menu"
"""


def test_a_failure_reports_transcript_expected_actual_and_lines(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", pizza=PIZZA, test_fail=FAILING)
    result = pytester.runpytest("-x")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert REPORT in text
    assert "Traceback" not in text and "checks.py" not in text
    result.stdout.fnmatch_lines(["*_ conversation: wrong expectations _*"])


def test_last_failed_reruns_only_the_failed_conversation(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", pizza=PIZZA, test_fail=FAILING)
    pytester.runpytest().assert_outcomes(failed=1, passed=1)
    result = pytester.runpytest("--lf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["collected 1 item", "run-last-failure: rerun previous 1 failure"])


def test_skip(pizza: pytest.Pytester) -> None:
    pizza.makefile(
        ".yaml",
        test_skip="flow: pizza.yaml\nconversations:\n"
        "  - name: later\n    skip: the menu is not ready\n    steps: [{user: hi}]\n",
    )
    result = pizza.runpytest("-rs", "test_skip.yaml")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the menu is not ready*"])


def test_collection_errors_name_file_line_col(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        pizza=PIZZA,
        test_bad="flow: pizza.yaml\nconversations:\n  - name: x\n    steps:\n"
        "      - user: hi\n        stat: menu\n",
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "test_bad.yaml:6:9: unknown key 'stat' in step 1 of conversation 'x'",
            "    hint: did you mean 'state'?",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_missing_flow_file_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", test_gone="flow: nowhere.yaml\nconversations: [{name: a, steps: [{user: hi}]}]\n"
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "test_gone.yaml:1:7: flow file 'nowhere.yaml' not found (looked for nowhere.yaml)",
            "    hint: the path is relative to the folder of this test file",
        ]
    )


def test_names_the_flow_lacks_fail_with_a_did_you_mean(pizza: pytest.Pytester) -> None:
    pizza.makefile(
        ".yaml",
        test_names="flow: pizza.yaml\nconversations:\n  - name: typo\n    steps:\n"
        "      - user: pizza\n        state: orderin\n",
    )
    result = pizza.runpytest("test_names.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_names.yaml:6:16: unknown state 'orderin': pizza.yaml has no such state",
            "    hint: did you mean 'ordering'?",
        ]
    )


LLM = """\
flow: pizza.yaml
actions:
  place_order: {returns: T1}
conversations:
  - name: the LLM answers
    steps:
      - user: do you have vegan cheese?
        llm: {reply: "Yes, we do."}
        bot: "Yes, we do."
        rule: llm
        llm_outcome: reply
  - name: the LLM picks an intent
    steps:
      - user: I am starving
        llm: {intent: order}
        bot: "Small or large?"
        state: ordering
        intent: order
  - name: the endpoint fails
    steps:
      - user: hmm
        llm: {fault: 503}
        bot_contains: "Sorry, something went wrong on my side"
        llm_outcome: failed
        rule: llm_failed
  - name: the endpoint times out
    steps:
      - user: hmm
        llm: {fault: timeout}
        bot_contains: "Sorry, something went wrong on my side"
        llm_called: true
        llm_outcome: failed
  - name: offline when nothing is scripted
    steps:
      - user: hmm
        bot: "Sorry?"
        llm_called: false
        llm_outcome: offline
"""


def test_scripted_llm_answers_and_faults(pizza: pytest.Pytester) -> None:
    pizza.makefile(".yaml", test_llm=LLM)
    result = pizza.runpytest("test_llm.yaml", "-v")
    result.assert_outcomes(passed=5)


def test_unused_and_unscripted_llm_answers_fail(pizza: pytest.Pytester) -> None:
    pizza.makefile(
        ".yaml",
        test_llm_misuse="""\
flow: pizza.yaml
actions:
  place_order: {returns: T1}
conversations:
  - name: scripted but a rule answers
    steps:
      - user: bye
        llm: {reply: "unused"}
  - name: asked but not scripted
    steps:
      - user: hmm
        llm: {reply: "ok"}
      - user: hmm again
""",
    )
    result = pizza.runpytest("test_llm_misuse.yaml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_llm_misuse.yaml:8: llm",
            "    expected: the LLM to be asked (an answer is scripted)",
            '    actual:   the LLM was not asked: intent "bye" answered',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "test_llm_misuse.yaml:13: user",
            "    expected: no LLM call (no answer is scripted for this turn)",
            """    actual:   the LLM was asked (rule "llm_failed"); script its answer: 'llm:'""",
        ]
    )


needs_coverage = pytest.mark.skipif(
    importlib.util.find_spec("dialogue.testing.coverage") is None,
    reason="dialogue.testing.coverage is not there",
)


@needs_coverage
def test_flow_coverage_is_reported_and_written(pizza: pytest.Pytester) -> None:
    result = pizza.runpytest("--flow-cov", "--flow-cov-json", "cov.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*= flow coverage =*", "Flow coverage: *%*", "*states*3/4*done*"])
    data = json.loads((pizza.path / "cov.json").read_text())
    assert "pizza" in data["flows"]


@needs_coverage
def test_flow_coverage_fail_under(pizza: pytest.Pytester) -> None:
    result = pizza.runpytest("--flow-cov-fail-under", "99.5")
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAIL: flow coverage *% (required: 99.5%)"])
    assert pizza.runpytest("--flow-cov-fail-under", "10").ret == pytest.ExitCode.OK


@needs_coverage
def test_xdist_runs_conversations_and_merges_coverage(pizza: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pizza.makefile(".yaml", test_llm=LLM)
    result = pizza.runpytest_subprocess("-n", "2", "--flow-cov", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    single = pizza.runpytest_subprocess("--flow-cov", "-p", "no:cacheprovider")
    line = [s for s in single.outlines if s.startswith("Flow coverage:")]
    assert line and line[0] in result.outlines
