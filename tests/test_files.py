"""Only regular files are read as flows, prompts and knowledge; sizes are checked first."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dialogue.authoring import files
from dialogue.authoring.loader import load_flow, load_flows
from dialogue.errors import FlowError

FLOW = """\
flow: faq
start: menu
fallback: {mode: respond, knowledge: faq.md}
states:
  menu:
    say: "Ask me anything."
    final: true
"""

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@needs_fifo
def test_a_flow_path_at_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "flow.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FlowError) as caught:
        load_flow(fifo)  # reading a FIFO with no writer would block forever
    assert caught.value.code == "unreadable"
    assert str(caught.value) == (
        f"{fifo}:1:1: this is a FIFO (named pipe), not a regular file\n"
        "    hint: point at a .yaml flow file"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_flow_path_at_dev_zero_is_refused() -> None:
    with pytest.raises(FlowError) as caught:
        load_flows("/dev/zero")  # endless zero bytes: MemoryError before this check
    assert str(caught.value) == (
        "/dev/zero:1:1: this is a character device, not a regular file\n"
        "    hint: point at a .yaml flow file"
    )


@needs_fifo
def test_a_knowledge_file_at_a_fifo_is_a_flow_error(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    os.mkfifo(tmp_path / "faq.md")
    with pytest.raises(FlowError) as caught:
        load_flow(tmp_path / "flow.yaml")
    assert str(caught.value).splitlines()[0] == (
        f"{tmp_path / 'flow.yaml'}:3:38: knowledge file 'faq.md' is a FIFO (named pipe), "
        "not a regular file"
    )


def test_a_huge_knowledge_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    with open(tmp_path / "faq.md", "wb") as big:
        big.truncate(300_000_000)  # sparse: 300 MB that take no disk
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(files.os, "read", counting_read)
    with pytest.raises(FlowError) as caught:
        load_flow(tmp_path / "flow.yaml")
    assert str(caught.value).splitlines()[0] == (
        f"{tmp_path / 'flow.yaml'}:3:38: knowledge file 'faq.md' is 300,000,000 bytes, "
        "more than the limit of 200,000"
    )
    assert len(reads) == 2  # the flow file's: its bytes, then the end; faq.md never read


def test_a_file_that_grows_past_the_limit_while_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 10)
    assert files.read_regular(path, 10) == b"x" * 10
    path.write_bytes(b"x" * 11)
    with pytest.raises(OverflowError):
        files.read_regular(path, 10)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        files.read_regular(tmp_path, 10)


@needs_fifo
def test_read_regular_never_opens_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()

    def read() -> None:
        with pytest.raises(ValueError, match="is a FIFO"):
            files.read_regular(fifo, 100)
        done.set()

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done.is_set()
