"""One fake Mac for the plan tests; its data comes from the test (tests/unit/plan.py)."""

import ast
import os

macs = [("@fake/mac", {"fake_delay": 0, "fake_delay_jitter": 0, **ast.literal_eval(os.environ["PLAN_TEST_DATA"])})]
