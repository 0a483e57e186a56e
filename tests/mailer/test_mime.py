"""Quoted-printable by pieces and RFC 2047 subjects: what goes on the wire decodes to exactly what was meant."""

import email
import email.policy
import quopri

import pytest

from campaigns.authoring.merge import MergeTemplate
from mailer.mime import _encoded, mime_build, qp_encode, qp_soft_end

TRICKY = [
    "",
    "plain",
    "x" * 75,
    "y" * 76,
    "z" * 200,
    "é" * 30,
    "a=b=c " * 20,
    "ends with a space ",
    "ends with a tab\t",
    "line one\nline two\r\nline three\rfour",
    "€" * 25 + "=",
    "=" * 80,
    "trailing newline\n",
]


def lines_ok(encoded: bytes) -> bool:
    return all(len(line) <= 76 for line in encoded.split(b"\r\n")) and b"\n" not in encoded.replace(b"\r\n", b"")


def decoded(encoded: bytes) -> str:
    return quopri.decodestring(encoded).decode("utf-8").replace("\r\n", "\n")


def wire(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("left", TRICKY)
@pytest.mark.parametrize("right", ["", "tail", "é" * 40, "=20 literal", "\nnext line"])
def test_soft_ended_segments_decode_to_the_concatenation(left, right):
    joined = qp_soft_end(qp_encode(left)) + qp_encode(right)

    assert decoded(joined) == wire(left + right)
    assert lines_ok(joined), joined


@pytest.mark.parametrize("is_html", [True, False])
@pytest.mark.parametrize("name", ["", "Zoë", "O'Brien & <Sons>", "x" * 90, "=?utf-8?b?SGk=?=", "a" * 74 + " "])
def test_a_template_encoded_by_pieces_decodes_to_its_render(is_html, name):
    text = (
        "<p>" + "Hello {{ first_name|there }}, " * 3 + "é" * 100 + "</p>\n"
        '<a href="{{ unsubscribe_url }}">unsubscribe</a>' + "z" * 73 + "{{ first_name }}{{ first_name }}\n"
    )
    template = MergeTemplate.compile(text, is_html=is_html)
    values = {"first_name": name, "unsubscribe_url": "https://shop.example/newsletter/unsubscribe/" + "t" * 80 + "/"}

    encoded = template.render_qp(values)

    assert decoded(encoded) == wire(template.render(values))
    assert lines_ok(encoded)


@pytest.mark.parametrize(
    "subject",
    ["Ünïcode " * 30, "€" * 40, "Winter for Zoë", "=?utf-8?q?spoof?=", "a" * 950, "日本語のメール" * 10, "é"],
)
def test_subjects_are_encoded_words_that_parse_back(subject):
    encoded = _encoded(subject)
    raw = mime_build(sender="news@shop.example", to="a@mail.example", subject=subject, text="t", html="h")

    assert raw.isascii()
    assert all(len(line) <= 78 for line in encoded.split("\r\n"))
    assert email.message_from_bytes(raw, policy=email.policy.default)["Subject"] == subject


def test_preencoded_parts_are_used_as_they_are():
    raw = mime_build(
        sender="news@shop.example", to="a@mail.example", subject="s", text=qp_encode("plain é"), html=b"<p>h=C3=A9</p>"
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)

    assert message.get_body(("plain",)).get_content().strip() == "plain é"
    assert message.get_body(("html",)).get_content().strip() == "<p>hé</p>"
