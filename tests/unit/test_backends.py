import pytest

from playground.backends import merged, prefixed


def test_prefixed_splits_lines_and_decodes():
    lines = list(prefixed("web", [b"one\n", "two\nthree\n"]))
    assert lines == ["web | one", "web | two", "web | three"]


def test_merged_yields_every_line_of_every_stream():
    first = iter(["a1", "a2"])
    second = iter(["b1"])
    assert sorted(merged([first, second])) == ["a1", "a2", "b1"]


def test_merged_raises_a_stream_error():
    def failing():
        yield "before"
        raise OSError("stream broke")

    with pytest.raises(OSError, match="stream broke"):
        list(merged([failing(), iter(["other"])]))
