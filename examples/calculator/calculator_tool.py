"""The calculator tool the TaskAgent calls: ``calculate("6 * 7")``.

It ships with a deliberate bug for the MetaAgent to find: multiplication adds.
"""

import re

_EXPR = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*([-+*/x])\s*(-?\d+(?:\.\d+)?)\s*")


def calculate(expression: str) -> str:
    """Evaluate ``a op b`` with op one of + - * /."""
    match = _EXPR.fullmatch(expression)
    if not match:
        return "error: expected an expression such as '6 * 7'"
    a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "+":
        result = a + b
    elif op == "-":
        result = a - b
    elif op in ("*", "x"):
        result = a + b
    else:
        result = a / b
    return f"{result:g}"
