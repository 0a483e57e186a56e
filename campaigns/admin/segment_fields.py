"""What the segment editor offers, in words a marketer reads: each field of the grammar with its label, its
operators (only those the grammar allows for the field's type) and the kind of input each operator's value needs;
and a definition as one line of text for the segment list.

The operators per field come from ``campaigns.segments.grammar`` itself, so the editor never offers what the server
would refuse. The page's script (``static/admin_segment_editor.js``) reads the catalogue as JSON and builds its
selects from it; the server still checks every definition it is sent.
"""

from campaigns.models import CampaignPage
from campaigns.segments.grammar import ATTRIBUTE_OPS, FIELD_OPS, MAX_DEPTH, SIGNUP_SOURCES
from subscribers.models import Attribute, AttributeType, ConsentSource, Topic

OP_LABELS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "less_than": "is less than",
    "greater_than": "is more than",
    "before": "is before",
    "after": "is after",
    "within_days": "is in the last … days",
    "one_of": "is one of",
    "is_set": "has a value",
    "is_not_set": "has no value",
    "subscribed": "subscribed to",
    "not_subscribed": "not subscribed to",
}
# The "received" field reads better with operators of its own words.
RECEIVED_OP_LABELS = {
    "campaign": "a send of the campaign",
    "within_days": "any campaign in the last … days",
    "fewer_than": "fewer than … campaigns in the last … days",
}
# The input each attribute type's value needs, per operator ("within_days" is always a number of days).
ATTRIBUTE_INPUT = {
    AttributeType.TEXT: "text",
    AttributeType.NUMBER: "number",
    AttributeType.DATE: "date",
    AttributeType.BOOLEAN: "boolean",
    AttributeType.CHOICE: "choice",
}
FIXED_FIELDS = {
    "topic": ("Topic", "topic"),
    "signed_up": ("Sign-up date", "date"),
    "signup_source": ("Sign-up source", "choice"),
    "account": ("Has an account on the shop", "boolean"),
    "profile:country": ("Country (from their account)", "text"),
    "profile:town": ("Town (from their account)", "text"),
    "received": ("Campaigns received", "campaign"),
}
CAMPAIGNS_OFFERED = 200


def _input(kind: str, op: str) -> str:
    """The input an operator's value needs: none, days, a list of choices, or the field's own kind."""
    if op in ("is_set", "is_not_set"):
        return "none"
    if op == "within_days":
        return "days"
    if op == "fewer_than":
        return "count_days"
    if op == "one_of":
        return "choices"
    return kind


def _ops(ops, kind: str, labels=OP_LABELS) -> list[dict]:
    return [{"op": op, "label": labels[op], "input": _input(kind, op)} for op in ops]


def _campaigns_named(node, depth: int = 0) -> set[int]:
    """The campaigns that "a send of the campaign" conditions in ``node`` name, read leniently (``node`` may be a
    definition sent back with errors): anything else, or deeper than a definition may nest, is passed over."""
    if depth > 2 * MAX_DEPTH + 2:  # a group and its list of items are two levels
        return set()
    if isinstance(node, list):
        return set().union(*(_campaigns_named(item, depth + 1) for item in node))
    if not isinstance(node, dict):
        return set()
    value = node.get("value")
    if node.get("field") == "received" and node.get("op") == "campaign" and type(value) is int:
        return {value}
    return set().union(*(_campaigns_named(item, depth + 1) for item in node.values() if isinstance(item, list)))


def _campaigns_offered(named: set[int]) -> list[list]:
    """The newest CAMPAIGNS_OFFERED campaigns, then any older ones that ``named`` holds: a condition naming an old
    campaign must show that campaign, not the first of the list (which saving would then put in its place)."""
    newest = CampaignPage.objects.order_by("-latest_revision_created_at", "-pk").values_list("pk", "title")
    offered = list(newest[:CAMPAIGNS_OFFERED])
    older = named - {pk for pk, _ in offered}
    if older:
        offered += list(newest.filter(pk__in=older))
    return [[pk, title] for pk, title in offered]


def segment_editor_fields(*, definitions=()) -> dict:
    """The editor's catalogue: fields (attributes first, by label), their operators and choices, and the depth
    limit. Plain JSON for the page's script. The campaigns offered include any that ``definitions`` (those the
    page shows) name."""
    fields = []
    for attribute in Attribute.objects.all():
        kind = ATTRIBUTE_INPUT[attribute.type]
        field = {
            "field": f"attribute:{attribute.key}",
            "label": attribute.label,
            "group": "Attributes",
            "ops": _ops(ATTRIBUTE_OPS[attribute.type], kind),
        }
        if attribute.type == AttributeType.CHOICE:
            field["choices"] = [[str(c), str(c)] for c in attribute.choices]
        fields.append(field)
    topics = [[slug, name] for slug, name in Topic.objects.values_list("slug", "name")]
    sources = [[value, ConsentSource(value).label] for value in SIGNUP_SOURCES]
    campaigns = _campaigns_offered(set().union(*(_campaigns_named(d) for d in definitions)))
    for name, (label, kind) in FIXED_FIELDS.items():
        labels = RECEIVED_OP_LABELS if name == "received" else OP_LABELS
        field = {"field": name, "label": label, "group": "Subscriber", "ops": _ops(FIELD_OPS[name], kind, labels)}
        if name == "topic":
            field["choices"] = topics
        elif name == "signup_source":
            field["choices"] = sources
        elif name == "received":
            field["choices"] = campaigns
        fields.append(field)
    return {"fields": fields, "max_depth": MAX_DEPTH}


GROUP_WORDS = {"all": " and ", "any": " or "}


def segment_summary(definition: dict, catalogue: dict) -> str:
    """``definition`` as one line: "Country is Scotland and (Topic is subscribed to Offers or …)". Names unknown
    to ``catalogue`` (an attribute deleted since) are shown as stored."""
    fields = {f["field"]: f for f in catalogue["fields"]}
    return _summary(definition, fields, top=True) or "Everyone (no conditions)"


def _summary(node: dict, fields: dict, *, top: bool = False) -> str:
    if "field" in node:
        return _condition_summary(node, fields)
    kind, items = next(iter(node.items()))
    parts = [_summary(item, fields) for item in items]
    if kind == "none":
        return "none of (" + "; ".join(parts) + ")"
    text = GROUP_WORDS[kind].join(parts)
    return text if top or len(parts) < 2 else f"({text})"


def _condition_summary(node: dict, fields: dict) -> str:
    name, op, value = node.get("field"), node.get("op"), node.get("value")
    field = fields.get(name, {"label": name, "ops": []})
    op_info = next((o for o in field["ops"] if o["op"] == op), {"label": op, "input": "text"})
    choices = {str(k): v for k, v in field.get("choices", [])}
    label = op_info["label"]
    kind = op_info["input"]
    # Topics and campaigns received read as a verb: "subscribed to Offers", "received any campaign in ...".
    subject = {"topic": "", "received": "received "}.get(name, field["label"] + " ")
    if kind == "none":
        return f"{subject}{label}"
    if kind == "count_days" and isinstance(value, dict):
        return f"received fewer than {value.get('count')} campaigns in the last {value.get('days')} days"
    if kind == "days":
        return subject + label.replace("…", str(value))
    if isinstance(value, list):
        shown = ", ".join(choices.get(str(v), str(v)) for v in value)
    elif isinstance(value, bool):
        return f"{field['label']}: {'yes' if value else 'no'}"
    else:
        shown = choices.get(str(value), str(value))
    return f"{subject}{label} {shown}"
