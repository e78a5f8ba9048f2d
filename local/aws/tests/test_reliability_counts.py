"""docs/reliability.md states how many tests the local AWS has: this holds the sentence to the
number a run of the whole suite collects (`python3 -m pytest local/aws`, as scripts/test runs it).
Run on part of the suite, it skips."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def stated() -> list[int]:
    text = open(os.path.join(ROOT, "docs", "reliability.md"), encoding="utf-8").read()
    return [int(n.replace(" ", "")) for n in re.findall(r"([0-9][0-9 ]*) local-AWS tests", text)] + [
        int(n) for n in re.findall(r"`local/aws/tests`, \*\*([0-9]+) tests\*\*", text)
    ]


def test_docs_state_the_number_of_local_aws_tests(request):
    if not getattr(request.config, "cib_whole_suite", False):
        pytest.skip("only a run of the whole suite knows its size")
    collected = request.config.cib_collected
    numbers = stated()
    assert len(numbers) == 2, f"docs/reliability.md states the count twice, found {numbers}"
    assert numbers == [collected, collected], (
        f"docs/reliability.md should say {collected} local-AWS tests (it says {numbers})"
    )
