"""Assertions on CLI results shared by the tests."""


def one_error_line(res, *words) -> str:
    """``res`` failed with exit code 1 and one ``Error:`` line (the last; progress bars may
    precede it) holding every one of ``words``, and no traceback. Returns that line."""
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert lines[-1].startswith("Error:") and sum(s.startswith("Error:") for s in lines) == 1, res.output
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]
