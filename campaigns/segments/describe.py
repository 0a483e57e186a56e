"""A segment definition in words, line by line, for the send pages: what a send's frozen copy selected."""

import json

GROUP_WORDS = {"all": "All of these:", "any": "Any of these:", "none": "None of these:"}
FIELD_WORDS = {
    "topic": "topic",
    "signed_up": "signed up",
    "signup_source": "signed up through",
    "account": "has an account",
    "profile:country": "country in their account",
    "profile:town": "town in their account",
    "received": "received",
}


def segment_describe(definition) -> list[tuple[int, str]]:
    """(depth, sentence) for each group and condition, in order; depth 0 is the whole definition."""
    lines: list[tuple[int, str]] = []
    _walk(definition, 0, lines)
    return lines


def _walk(node, depth: int, lines: list) -> None:
    if isinstance(node, dict) and "field" not in node and len(node) == 1:
        kind, items = next(iter(node.items()))
        if kind in GROUP_WORDS and isinstance(items, list):
            lines.append((depth, GROUP_WORDS[kind] if items else "Everyone"))
            for item in items:
                _walk(item, depth + 1, lines)
            return
    if isinstance(node, dict) and "field" in node:
        lines.append((depth, _condition(node)))
        return
    lines.append((depth, json.dumps(node)))


def _condition(node: dict) -> str:
    field, op, value = str(node.get("field")), str(node.get("op", "")), node.get("value")
    name = field.removeprefix("attribute:") if field.startswith("attribute:") else FIELD_WORDS.get(field, field)
    if field == "received" and op == "fewer_than" and isinstance(value, dict):
        return f"received fewer than {value.get('count')} campaigns in the last {value.get('days')} days"
    if field == "received" and op == "campaign":
        return f"received campaign {value}"
    if op == "within_days":
        return f"{name}: within the last {value} days"
    words = op.replace("_", " ")
    if value is None:
        return f"{name} {words}"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value, ensure_ascii=False)
    return f"{name} {words} {shown}"
