"""Threading on named Message-IDs through the real pipeline and the real store."""

from __future__ import annotations

from pathlib import Path

from inbox_agent.adapters.records import conversation_from_doc, conversation_to_doc
from tests.worlds import MemoryWorld, customer_mail, ledger, london, make_settings, run


def test_what_a_message_names_is_stored_and_old_stores_still_load(tmp_path: Path) -> None:
    """The ids a filed message names survive a commit and a reload; a store written before
    they were kept (no ``names`` key) loads with none."""
    world = MemoryWorld(make_settings(tmp_path))
    world.deliver(
        customer_mail(
            "bob@x.example",
            "Order",
            "Where is it?",
            london(16, 9, 0),
            In_Reply_To="<lost@shop.example>",
        ),
        london(16, 9, 0),
    )
    run(world, london(16, 9, 5))
    (conversation,) = ledger(world.settings).conversations.values()
    assert conversation.messages[0].names == ("<lost@shop.example>",)
    doc = conversation_to_doc(conversation)
    del doc["messages"][0]["names"]
    assert conversation_from_doc(doc).messages[0].names == ()


def test_replies_to_one_unseen_message_are_one_conversation(tmp_path: Path) -> None:
    """A customer's two replies to a mail the support mailbox never got: one conversation,
    one acknowledgement."""
    world = MemoryWorld(make_settings(tmp_path))
    for minute, body in ((0, "First"), (10, "And another thing")):
        world.deliver(
            customer_mail(
                "bob@x.example",
                "Re: your offer",
                body,
                london(16, 9, minute),
                In_Reply_To="<offer@shop.example>",
            ),
            london(16, 9, minute),
        )
    run(world, london(16, 9, 15))
    assert len(ledger(world.settings).conversations) == 1
    assert len(world.sent()) == 1


def test_a_message_linking_two_conversations_is_filed_in_one_with_a_note(tmp_path: Path) -> None:
    """A mail answering two customers' conversations at once merges nothing: it joins the one
    its In-Reply-To names, and both conversations tell staff about the other."""
    world = MemoryWorld(make_settings(tmp_path))
    first = customer_mail("bob@x.example", "Printer", "Broken", london(16, 9, 0))
    second = customer_mail("carol@x.example", "Printer too", "Also broken", london(16, 9, 1))
    for raw, minute in ((first, 0), (second, 1)):
        world.deliver(raw, london(16, 9, minute))
    run(world, london(16, 9, 5))
    ids = {c.customer: c for c in ledger(world.settings).conversations.values()}
    bob, carol = ids["bob@x.example"], ids["carol@x.example"]
    world.deliver(
        customer_mail(
            "bob@x.example",
            "Re: Printer",
            "Carol and I",
            london(16, 10, 0),
            In_Reply_To=str(bob.messages[0].message_id),
            References=f"{carol.messages[0].message_id} {bob.messages[0].message_id}",
        ),
        london(16, 10, 0),
    )
    run(world, london(16, 10, 5))
    after = ledger(world.settings).conversations
    assert len(after) == 2
    assert len(after[bob.id].messages) == 2
    assert len(after[carol.id].messages) == 1
    assert f"[#{carol.id}]" in after[bob.id].notes[-1].text
    assert f"[#{bob.id}]" in after[carol.id].notes[-1].text
