"""How a mail is laid out on the wire and as read (``rendering.build_message``): paragraphs
whole, the standard signature separator, the customer's name in ``To:`` but never as an
address."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from inbox_agent.core.rendering import Envelope, Rendered, build_message, tidy_text

NOW = datetime(2026, 11, 23, 10, 6, tzinfo=UTC)
ANA = "ana@customer.example"
ENVELOPE = Envelope(
    from_address="support@example.com",
    from_name="Example Co. Support",
    to=ANA,
    token="K7Q2",
    message_id="<inbox-agent.K7Q2.ack.1@example.com>",
    date=NOW,
    in_reply_to=None,
    references=(),
    to_name="Ana Silva",
)
# 300 characters, non-ASCII and French typography included: one paragraph, one line.
PARAGRAPH = ("Grüße aus Köln, « voilà » : " + "a sentence that goes on " * 12).strip() + "."


def _sent(
    text: str, envelope: Envelope = ENVELOPE, html: str | None = None
) -> tuple[bytes, EmailMessage]:
    """The mail's bytes as they go to the relay, and the mail as a client reads them."""
    raw = build_message(Rendered("Re: Invoice", text, html), envelope, "unused").as_bytes(
        policy=policy.SMTP
    )
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return raw, message


def _read(message: EmailMessage, kind: str = "plain") -> list[str]:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n").split("\n")


def test_a_long_paragraph_arrives_as_one_line() -> None:
    """A 300-character paragraph is one line when read, though no wire line passes 78
    characters: quoted-printable's soft breaks, which every client undoes."""
    assert len(PARAGRAPH) >= 300
    raw, message = _sent(f"Hello Ana,\n\n{PARAGRAPH}\n\nKind regards,\nSupport\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert PARAGRAPH in _read(message)


def test_the_html_part_keeps_its_lines_too() -> None:
    """The HTML variant goes the same way: quoted-printable, its long line whole."""
    html = f"<p>{PARAGRAPH}</p>"
    raw, message = _sent("Hello\n", html=html)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert html in _read(message, "html")


def test_the_signature_separator_is_dash_dash_space() -> None:
    """ "-- " (RFC 3676 4.3), even when an editor stripped the space from the template."""
    for written in ("--", "-- ", "--  "):
        _, message = _sent(f"Kind regards,\nSupport\n\n{written}\nAn automatic message.\n")
        assert _read(message)[-4:] == ["", "-- ", "An automatic message.", ""]


def test_the_text_is_tidied() -> None:
    """No trailing spaces, no runs of blank lines (an ``{% if %}`` that wrote nothing), no
    blank lines at the start or end."""
    assert tidy_text("\n\nHello Ana,  \n\n\n\nThanks.\n\n\n") == "Hello Ana,\n\nThanks.\n"


def test_to_carries_the_customers_name() -> None:
    """``To: Ana Silva <ana@customer.example>``; with a name that needs it, encoded."""
    _, message = _sent("Hello\n")
    assert str(message["To"]) == "Ana Silva <ana@customer.example>"
    _, message = _sent("Hello\n", replace(ENVELOPE, to_name="Chloé Martin, Ltd."))
    (address,) = message["To"].addresses
    assert (address.display_name, address.addr_spec) == ("Chloé Martin, Ltd.", ANA)


def test_a_name_that_could_pass_for_an_address_is_left_out() -> None:
    """An ``@`` in the name, or an encoded word that Python's folding would write out
    decoded (``=?utf-8?q?eve=40evil.example?=`` becomes ``eve@evil.example``): the bare
    address, so the name can never become one."""
    for name in ("eve@evil.example", "=?utf-8?q?eve=40evil.example?=", "  \r\n "):
        _, message = _sent("Hello\n", replace(ENVELOPE, to_name=name))
        assert str(message["To"]) == ANA


@given(st.text(max_size=80))
def test_whatever_the_name_the_mail_goes_to_the_customers_address(name: str) -> None:
    """Any text at all as the name: ``To:`` holds one address, the conversation's."""
    _, message = _sent("Hello\n", replace(ENVELOPE, to_name=name))
    assert [a.addr_spec for a in message["To"].addresses] == [ANA]
    assert message["Cc"] is None
    assert message["Bcc"] is None
