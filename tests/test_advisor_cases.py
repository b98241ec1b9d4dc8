"""Ten realistic cases and the answer a senior data engineer gives, written down before the rules of
issue 12 were changed. The README's ten-cases table is generated from this data
(``python -m storeadvise.advisor.grid --write README.md``).

Each case: what the user says (the ``recommend`` inputs), the first choice, the runner-up and the
deciding reason. With the rules as they were before issue 12 (inputs they did not know dropped,
``--readers 20`` read as ``many``), 1 of the 10 cases got both first choice and runner-up right
(text for training); 4 got the first choice right.
"""

from __future__ import annotations

import pytest

from storeadvise.advisor.cases import CASES
from storeadvise.advisor.engine import evaluate
from storeadvise.advisor.inputs import make_inputs
from storeadvise.advisor.ruleset import builtin_rules


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_advisor_answers_each_case_as_a_senior_engineer_would(case):
    advice = evaluate(make_inputs(case.inputs), builtin_rules())
    assert (advice.best.option, advice.runner_up.option) == (case.first, case.runner_up), case.reason
