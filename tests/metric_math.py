"""A small evaluator of the CloudWatch metric-math the quality-rate alarms use (IF, FILL, + - * /, comparisons),
so a test can compute what an alarm reads from the values the code's EMF documents carry.
Syntax as documented: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping

_TOKEN = re.compile(r"\s*(\d+(?:\.\d+)?|[A-Za-z_][A-Za-z_0-9]*|>=|<=|==|!=|[()+\-*/<>,])")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


def evaluate(expression: str, values: Mapping[str, float | None]) -> float:
    """``values``: each id's datapoint for one period (None: no datapoint, as CloudWatch's missing data)."""
    tokens = _TOKEN.findall(expression)
    if "".join(tokens) != re.sub(r"\s+", "", expression):
        raise ValueError(f"cannot read {expression!r}")
    position = 0

    def peek() -> str:
        return tokens[position] if position < len(tokens) else ""

    def take(expected: str | None = None) -> str:
        nonlocal position
        token = tokens[position]
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, got {token!r} in {expression!r}")
        position += 1
        return token

    def comparison() -> float | None:
        left = additive()
        if peek() in _COMPARE:
            test = _COMPARE[take()]
            right = additive()
            return float(left is not None and right is not None and test(left, right))
        return left

    def additive() -> float | None:
        value = term()
        while peek() in ("+", "-"):
            sign, right = take(), term()
            value = None if value is None or right is None else value + right if sign == "+" else value - right
        return value

    def term() -> float | None:
        value = atom()
        while peek() in ("*", "/"):
            sign, right = take(), atom()
            if value is None or right is None or (sign == "/" and right == 0):
                value = None
            else:
                value = value * right if sign == "*" else value / right
        return value

    def atom() -> float | None:
        token = take()
        if token == "(":
            value = comparison()
            take(")")
            return value
        if token in ("IF", "FILL"):
            take("(")
            arguments = [comparison()]
            while peek() == ",":
                take()
                arguments.append(comparison())
            take(")")
            if token == "FILL":
                return arguments[1] if arguments[0] is None else arguments[0]
            condition, then, otherwise = arguments
            return then if condition else otherwise
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return float(token)
        return values[token]

    result = comparison()
    if position != len(tokens):
        raise ValueError(f"unread tokens in {expression!r}")
    if result is None:
        raise ValueError(f"{expression!r} has no value for {dict(values)}")
    return result
