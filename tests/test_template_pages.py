"""The staff page's template editor through aiohttp's test client, over a real Store and a
templates folder of one's own: session and CSRF on every route, the list, the preview with
the promised moment, errors with their lines, save refused (422) while they last, history
with its diff and restore, names never paths, a stale editor refused, the live-preview
fragment, hostile text escaped, bodies over the limit refused (413)."""

from __future__ import annotations

import asyncio
import html
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from inbox_agent.agent import template_editing as editing
from inbox_agent.core.conversations import MailKind
from inbox_agent.core.ledger import Ledger
from inbox_agent.web.auth import Users
from tests.test_web_pages import (
    NOW,
    PASSWORD,
    WEB,
    Client,
    log_in,
    page,
    token_of,
)
from tests.worlds import ROOT, MemoryWorld, customer_mail, london, make_settings, run

ACK = "acknowledgement.txt.j2"
GOOD = "{{ mailbox_name }}. We"
TYPO = "{{ mailbox_name }. We"  # line 5 of the default acknowledgement
FIXED = "{{ mailbox_name }}. Someone from our team"
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture
def world(tmp_path: Path) -> MemoryWorld:
    """Ana's conversation, and a copy of the default templates as the shop's own."""
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copytree(ROOT / "templates", folder / "templates")
    world = MemoryWorld(make_settings(folder, extra=WEB, templates=folder / "templates"))
    sent = london(16, 10, 0)
    mail = customer_mail("Ana Lima <ana@example.org>", "Printer on fire", "Help.\n", sent)
    world.deliver(mail, sent)
    run(world, london(16, 10, 5))
    Users(world.settings.agent.data_dir).set_password("alice", PASSWORD)
    return world


def on(world: MemoryWorld, test: Callable[[Client, Ledger], Awaitable[None]]) -> None:
    async def go() -> None:
        async with page(world) as (client, live):
            await test(client, live)

    asyncio.run(go())


def ack(world: MemoryWorld) -> Path:
    return world.settings.agent.templates_dir / ACK


def replaces_in(body: str) -> str:
    """The editor's hidden ``replaces`` field, as the browser would send it."""
    start = body.index('name="replaces" value="') + len('name="replaces" value="')
    return html.unescape(body[start : body.index('"', start)])


def test_every_template_route_refuses_without_a_session_or_csrf(world: MemoryWorld) -> None:
    before = ack(world).read_bytes()
    gets = ("/templates", f"/templates/{ACK}", f"/templates/{ACK}/history")
    posts = (
        f"/templates/{ACK}",
        f"/templates/{ACK}/preview",
        f"/templates/{ACK}/restore",
        "/templates/copy-defaults",
    )
    form = {"text": "changed", "replaces": before.decode(), "action": "save", "version": "x"}

    async def test(client: Client, live: Ledger) -> None:
        for path in gets:
            response = await client.get(path, allow_redirects=False)
            assert response.status == 303
            assert response.headers["Location"] == "/login"
            assert "mailbox_name" not in await response.text()
        for path in posts:
            response = await client.post(path, data={**form, "csrf": "x"})
            assert response.status == 403
            assert "mailbox_name" not in await response.text()
        csrf = await log_in(client)
        for path in posts:
            response = await client.post(path, data=form)  # no token
            assert response.status == 403
            response = await client.post(path, data={**form, "csrf": csrf[::-1]})
            assert response.status == 403
        for path in gets:
            response = await client.get(path)
            assert response.status == 200

    on(world, test)
    assert ack(world).read_bytes() == before


KIND_ORDER = ["acknowledgement", "follow_up", "escalation_notice", "escalation"]


def test_the_list_shows_every_kind_language_and_mailbox_variant(world: MemoryWorld) -> None:
    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        body = await (await client.get("/templates")).text()
        for kind in MailKind:
            assert f'id="kind-{kind.value}"' in body
            for name in (
                f"{kind.value}.txt.j2",
                f"{kind.value}.de.txt.j2",
                f"{kind.value}.fr.txt.j2",
            ):
                assert f'href="/templates/{name}"' in body
            assert f'href="/templates/support/{kind.value}.txt.j2"' in body
        assert ">de</td>" in body
        assert ">fr</td>" in body
        assert ">any other (the plain file)</td>" in body
        # in the order a customer's mail goes out, each with the variants not yet made apart
        order = [body.index(f'id="kind-{kind}"') for kind in KIND_ORDER]
        assert order == sorted(order)
        assert body.count("<summary>Variants you can add (") == len(MailKind)
        ack_section = body[order[0] : order[1]]
        present, addable = ack_section.split("<summary>Variants you can add (")
        assert f'href="/templates/{ACK}"' in present
        assert 'href="/templates/support/acknowledgement.txt.j2"' in addable
        assert 'href="/templates/acknowledgement.html.j2"' in addable
        assert "Copy the missing default templates" not in body  # the folder has them all

    on(world, test)


def test_the_editor_previews_the_acknowledgement_with_the_promised_moment(
    world: MemoryWorld,
) -> None:
    text = ack(world).read_text(encoding="utf-8")
    sample = editing.preview(world.settings, ACK, text, NOW)
    token = token_of(world, "ana@example.org")

    async def test(client: Client, live: Ledger) -> None:
        await log_in(client)
        body = await (await client.get(f"/templates/{ACK}")).text()
        assert '<label for="text">' in body
        assert '<textarea id="text" name="text"' in body
        assert html.escape(text, quote=False) in body
        assert html.escape(sample.promised_by_text) in body
        assert "<dt>Subject</dt>" in body
        assert '<pre class="mail-text">' in body
        assert f'<option value="{token}">#{token} Printer on fire</option>' in body
        assert '<script src="/static/template_editor.js"></script>' in body
        # What the template can use, with the sample's values for its kind.
        assert (
            "<dt><code>{{ promised_by_text }}</code></dt>"
            f"<dd>{html.escape(sample.promised_by_text)}</dd>"
        ) in body
        assert "<dt><code>{{ follow_up_number }}</code></dt><dd>0</dd>" in body
        follow_up = await (await client.get("/templates/follow_up.txt.j2")).text()
        assert "<dt><code>{{ follow_up_number }}</code></dt><dd>1</dd>" in follow_up
        # A real conversation: Ana's mail as she would get it.
        body = await (await client.get(f"/templates/{ACK}?conversation={token}")).text()
        assert "Hello Ana," in body
        assert f"[#{token}]" in body
        script = await client.get("/static/template_editor.js")
        assert script.status == 200
        assert "setTimeout(refresh, 300)" in await script.text()

    on(world, test)


def test_a_typo_is_shown_with_its_line_and_refused_then_a_fix_saves_with_history(
    world: MemoryWorld,
) -> None:
    original = ack(world).read_text(encoding="utf-8")
    assert GOOD in original

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        loaded = replaces_in(await (await client.get(f"/templates/{ACK}")).text())
        assert loaded == original
        typo = original.replace(GOOD, TYPO)
        for action, status in (("preview", 200), ("save", 422)):
            response = await client.post(
                f"/templates/{ACK}",
                data={"csrf": csrf, "text": typo, "replaces": loaded, "action": action},
            )
            assert response.status == status
            body = await response.text()
            assert "<strong>Line 5</strong>: unexpected &#39;}&#39;" in body
            assert html.escape(TYPO, quote=False) in body  # the line itself, next to it
            assert ack(world).read_text(encoding="utf-8") == original
        fixed = original.replace(GOOD, FIXED)
        response = await client.post(
            f"/templates/{ACK}",
            data={"csrf": csrf, "text": fixed, "replaces": loaded, "action": "save"},
            allow_redirects=False,
        )
        assert response.status == 303
        assert response.headers["Location"] == f"/templates/{ACK}?done=saved"
        assert ack(world).read_text(encoding="utf-8") == fixed
        body = await (await client.get(response.headers["Location"])).text()
        assert "Saved." in body
        assert "Someone from our team" in body
        history = await (await client.get(f"/templates/{ACK}/history")).text()
        assert '<span class="removed">-Thank you for writing to {{ mailbox_name }}. We' in history
        assert '<span class="added">+Thank you for writing to {{ mailbox_name }}. Someone' in (
            history
        )
        version = editing.versions(world.settings, ACK)[0].id
        assert f'name="version" value="{version}"' in history
        response = await client.post(
            f"/templates/{ACK}/restore",
            data={"csrf": csrf, "version": version},
            allow_redirects=False,
        )
        assert response.status == 303
        assert ack(world).read_text(encoding="utf-8") == original
        assert len(editing.versions(world.settings, ACK)) == 2  # the restore is undoable

    on(world, test)


def test_a_stale_editor_is_refused(world: MemoryWorld) -> None:
    original = ack(world).read_text(encoding="utf-8")

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        loaded = replaces_in(await (await client.get(f"/templates/{ACK}")).text())
        theirs = original.replace(GOOD, FIXED)
        ack(world).write_text(theirs, encoding="utf-8")  # someone else saved meanwhile
        response = await client.post(
            f"/templates/{ACK}",
            data={"csrf": csrf, "text": original + "mine\n", "replaces": loaded, "action": "save"},
        )
        assert response.status == 409
        assert "changed by someone else" in await response.text()
        assert ack(world).read_text(encoding="utf-8") == theirs
        # The browser sends newlines as CRLF: that alone is not a stale editor.
        response = await client.post(
            f"/templates/{ACK}",
            data={
                "csrf": csrf,
                "text": (theirs + "mine\n").replace("\n", "\r\n"),
                "replaces": theirs.replace("\n", "\r\n"),
                "action": "save",
            },
            allow_redirects=False,
        )
        assert response.status == 303
        assert ack(world).read_text(encoding="utf-8") == theirs + "mine\n"

    on(world, test)


def test_a_path_like_or_unknown_name_is_not_found(world: MemoryWorld) -> None:
    names = (
        "..%2Fconfig.toml",
        "..%2F..%2Fetc%2Fpasswd.j2",
        "%2Fetc%2Fpasswd.j2",
        "support%2F..%2F..%2Facknowledgement.txt.j2",
        "nonsense.txt.j2",
        "elsewhere%2Facknowledgement.txt.j2",
        "acknowledgement.txt",
    )

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        for name in names:
            for suffix in ("", "/history"):
                response = await client.get(f"/templates/{name}{suffix}")
                assert response.status == 404, name
            response = await client.post(
                f"/templates/{name}", data={"csrf": csrf, "text": "x", "action": "save"}
            )
            assert response.status == 404, name

    on(world, test)
    assert not (world.settings.agent.data_dir / "config.toml").read_text().startswith("x")


def test_the_live_preview_returns_the_fragment_and_bounds_the_body(world: MemoryWorld) -> None:
    original = ack(world).read_text(encoding="utf-8")

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        response = await client.post(
            f"/templates/{ACK}/preview",
            data={"csrf": csrf, "text": original.replace(GOOD, FIXED), "conversation": ""},
        )
        assert response.status == 200
        fragment = await response.text()
        assert fragment.startswith('<div id="preview-body" data-problems="0">')
        assert "<html" not in fragment
        assert "Someone from our team" in fragment
        assert "The promised moment, as the customer reads it" in fragment
        response = await client.post(
            f"/templates/{ACK}/preview",
            data={"csrf": csrf, "text": original.replace(GOOD, TYPO), "conversation": ""},
        )
        fragment = await response.text()
        assert 'data-problems="1"' in fragment
        assert "<strong>Line 5</strong>" in fragment
        long_html = "Subject: {{ subject }}\n\n" + '<p style="margin: 0">Thanks.</p>\n' * 2_000
        response = await client.post(  # 66 KB of HTML, 106 KB form-encoded: previewed
            f"/templates/{ACK}/preview",
            data={"csrf": csrf, "text": long_html, "conversation": ""},
        )
        assert response.status == 200
        assert 'data-problems="0"' in await response.text()
        response = await client.post(  # over the loader's limit: the editor says so
            f"/templates/{ACK}/preview",
            data={"csrf": csrf, "text": "x" * 1_000_001, "conversation": ""},
        )
        assert "a template is at most 1,000,000" in await response.text()
        response = await client.post(  # a form no template fits in: refused unread
            f"/templates/{ACK}/preview",
            data={"csrf": csrf, "text": "<" * 1_100_000, "conversation": ""},
        )
        assert response.status == 413
        assert await response.text() == "Too long: a template is at most 1,000,000 bytes.\n"
        response = await client.post(  # an action's form stays small
            "/conversations/ABCD/close", data={"csrf": csrf, "pad": "x" * 70_000}
        )
        assert response.status == 413

    on(world, test)
    assert ack(world).read_text(encoding="utf-8") == original


def test_hostile_template_text_is_shown_escaped(world: MemoryWorld) -> None:
    hostile = f"Subject: {HOSTILE}\n\n{HOSTILE}\n{{{{ subject }}}}\n"
    html_part = world.settings.agent.templates_dir / "acknowledgement.html.j2"
    html_part.write_text(f"<p>{HOSTILE}</p>\n", encoding="utf-8")

    async def test(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        for response in (
            await client.get("/templates/acknowledgement.html.j2"),
            await client.post(
                f"/templates/{ACK}", data={"csrf": csrf, "text": hostile, "action": "preview"}
            ),
            await client.post(f"/templates/{ACK}/preview", data={"csrf": csrf, "text": hostile}),
        ):
            body = await response.text()
            assert "<script>alert" not in body
            assert "&lt;script&gt;alert(" in body
            assert "<iframe" not in body
            assert '<pre class="mail-html">&lt;p&gt;&lt;script&gt;' in body  # the HTML part

    on(world, test)


def test_the_packaged_defaults_are_refused_and_copying_is_offered_when_missing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    packaged = MemoryWorld(make_settings(folder, extra=WEB))
    Users(folder).set_password("alice", PASSWORD)
    own = tmp_path / "own"
    own.mkdir()
    (own / ACK).write_text((ROOT / "templates" / ACK).read_text(encoding="utf-8"))
    (tmp_path / "o").mkdir()
    partial = MemoryWorld(make_settings(tmp_path / "o", extra=WEB, templates=own))
    Users(tmp_path / "o").set_password("alice", PASSWORD)

    async def defaults(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        body = await (await client.get("/templates")).text()
        assert "not edited in place" in body
        assert "Copy the missing default templates" not in body
        editor = await (await client.get(f"/templates/{ACK}")).text()
        response = await client.post(
            f"/templates/{ACK}",
            data={"csrf": csrf, "text": "x", "replaces": replaces_in(editor), "action": "save"},
        )
        assert response.status == 409
        assert "is not edited in place" in await response.text()
        response = await client.post("/templates/copy-defaults", data={"csrf": csrf})
        assert response.status == 409

    async def copying(client: Client, live: Ledger) -> None:
        csrf = await log_in(client)
        assert "Copy the missing default templates" in await (await client.get("/templates")).text()
        response = await client.post(
            "/templates/copy-defaults", data={"csrf": csrf}, allow_redirects=False
        )
        assert response.status == 303
        body = await (await client.get("/templates?done=copied")).text()
        assert "Copy the missing default templates" not in body
        assert "were copied" in body

    on(packaged, defaults)
    assert (own / "follow_up.de.txt.j2").exists() is False
    on(partial, copying)
    assert (own / "follow_up.de.txt.j2").is_file()
