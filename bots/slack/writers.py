"""One Slack message of an answer, written either as a native stream or by post-then-edit.

Both writers are ``bots.common.parts.PartWriter``s: ``show`` is a best-effort preview of the
message's text so far; ``finish`` makes the message show exactly its final text and must land.
Both take the message's whole text, not a delta. ``finish`` may also take Block Kit blocks to
end the message with (the answer's feedback buttons): a stream gets them from
``chat.stopStream``, a posted message from its final ``chat.update``, with the text repeated in
``section`` blocks since a message with blocks shows its blocks, not its ``text``. A message
written with ``markdown_text`` takes no blocks (Slack refuses the two together); ``attached``
says whether the blocks landed.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bots.common.parts import PartTooLong
from bots.common.splitting import split_markdown
from bots.slack.api import call, error_code
from bots.slack.mrkdwn import to_mrkdwn
from bots.slack.target import ReplyTarget

log = logging.getLogger(__name__)

EXPIRED = "message_not_in_streaming_state"
TOO_LONG = frozenset({"msg_too_long", "msg_blocks_too_long"})
SECTION_LIMIT = 2_900  # a section block's text takes 3,000 characters (a split adds fences)

Blocks = list[dict[str, Any]]


class StreamingUnavailable(Exception):
    """Slack refused to start a native stream (feature off, old workspace, bad channel)."""


class SlackMsgTooLong(PartTooLong):
    """Slack said ``msg_too_long``: ``AnswerParts`` splits the text further."""


class PostedWriter:
    """``chat.postMessage`` once, then ``chat.update`` on the same message.

    ``markdown=True`` sends ``markdown_text`` (Slack renders Markdown itself, as in streams);
    otherwise the text is converted to mrkdwn, which every workspace renders.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: ReplyTarget,
        *,
        markdown: bool,
        ts: str | None = None,
        shown: str | None = None,
    ) -> None:
        self._client = client
        self._target = target
        self._markdown = markdown
        self._channel = target.channel
        self.ts = ts
        self._shown = shown
        self.attached = False  # the message ended with the blocks ``finish`` was given

    async def show(self, text: str) -> None:
        await self._put(text)

    async def finish(self, text: str, blocks: Blocks | None = None) -> None:
        if blocks and self._markdown:
            log.info("a markdown_text message takes no blocks: the answer ends without them")
            blocks = None
        await self._put(text, blocks)

    async def delete(self) -> None:
        if self.ts is not None:
            ts = self.ts
            await call(lambda _: self._client.chat_delete(channel=self._channel, ts=ts))
            self.ts = None

    def _content(self, text: str, blocks: Blocks | None) -> dict[str, Any]:
        if self._markdown:
            return {"markdown_text": text}
        mrkdwn = to_mrkdwn(text)
        if not blocks:
            return {"text": mrkdwn}
        return {"text": mrkdwn, "blocks": [*_sections(mrkdwn), *blocks]}

    async def _put(self, text: str, blocks: Blocks | None = None) -> None:
        if text == self._shown and not blocks:
            return
        content = self._content(text, blocks)
        if not next(iter(content.values())).strip():
            return  # e.g. "## " mid-stream renders as nothing; Slack refuses empty messages
        try:
            if self.ts is None:
                response = await call(
                    lambda _: self._client.chat_postMessage(
                        channel=self._channel,
                        thread_ts=self._target.thread_ts,
                        unfurl_links=False,
                        unfurl_media=False,
                        **content,
                    )
                )
                self.ts = str(response["ts"])
                self._channel = str(response.get("channel") or self._channel)
            else:
                ts = self.ts
                await call(
                    lambda _: self._client.chat_update(channel=self._channel, ts=ts, **content)
                )
        except SlackApiError as error:
            if error_code(error) in TOO_LONG:
                raise SlackMsgTooLong(error_code(error)) from error
            raise
        self._shown = text
        self.attached = "blocks" in content


class NativeWriter:
    """A message streamed with slack-sdk's ``chat_stream`` (start/append/stop).

    Appends are whole deltas of the paced preview (``buffer_size=1``: the pacer, not the
    helper, decides when to send). If the stream expires (``message_not_in_streaming_state``,
    ~5 minutes) or breaks, the same message continues with ``chat.update`` on its ``ts``.
    """

    def __init__(self, client: AsyncWebClient, target: ReplyTarget) -> None:
        self._client = client
        self._target = target
        self._stream: AsyncChatStream | None = None
        self._sent = ""
        self._fallback: PostedWriter | None = None
        self._stopped_with_blocks = False

    @property
    def ts(self) -> str | None:
        return self._stream.ts if self._stream is not None else None

    @property
    def attached(self) -> bool:
        """The message ended with the blocks ``finish`` was given."""
        if self._fallback is not None:
            return self._fallback.attached
        return self._stopped_with_blocks

    async def show(self, text: str) -> None:
        if self._fallback is not None:
            await self._fallback.show(text)
        elif self._stream is None:
            await self._start(text)
        elif text.startswith(self._sent) and len(text) > len(self._sent):
            await self._append(text[len(self._sent) :])
        # Otherwise the part boundary moved under the preview: ``finish`` replaces the text.

    async def finish(self, text: str, blocks: Blocks | None = None) -> None:
        if self._stream is None and self._fallback is None:
            await self._start(text)
        if self._fallback is not None:
            await self._fallback.finish(text, blocks)
            return
        if self._stream is None:
            return  # nothing to say (empty text)
        stream = self._stream
        if text.startswith(self._sent):
            rest = text[len(self._sent) :]
            try:
                # A retried stop must not add ``rest`` again: the helper kept it buffered.
                await call(
                    lambda n: stream.stop(
                        markdown_text=rest if n == 0 and rest else None, blocks=blocks or None
                    )
                )
                self._sent = text
                self._stopped_with_blocks = bool(blocks)
                return
            except SlackApiError as error:
                await self._degrade(error)
        else:
            with contextlib.suppress(SlackApiError):
                await call(lambda _: stream.stop())
            self._fallback = self._posted()
        assert self._fallback is not None
        await self._fallback.finish(text, blocks)

    async def delete(self) -> None:
        if self._stream is not None and self._fallback is None:
            stream = self._stream
            with contextlib.suppress(SlackApiError):
                await call(lambda _: stream.stop())
            self._fallback = self._posted()
        if self._fallback is not None:
            await self._fallback.delete()

    async def _start(self, text: str) -> None:
        if not text.strip():
            return
        stream = await self._client.chat_stream(
            channel=self._target.channel,
            thread_ts=self._target.thread_ts,  # type: ignore[arg-type]  # None: DM top level
            recipient_team_id=self._target.team_id,
            recipient_user_id=self._target.user_id,
            buffer_size=1,
        )
        try:
            await call(lambda n: stream.append(markdown_text=text if n == 0 else ""))
        except SlackApiError as error:
            raise StreamingUnavailable(error_code(error)) from error
        self._stream = stream
        self._sent = text

    async def _append(self, delta: str) -> None:
        stream = self._stream
        assert stream is not None
        try:
            await call(lambda n: stream.append(markdown_text=delta if n == 0 else ""))
            self._sent += delta
        except SlackApiError as error:
            await self._degrade(error)
            assert self._fallback is not None
            await self._fallback.show(self._sent + delta)

    async def _degrade(self, error: SlackApiError) -> None:
        """Continue this message with chat.update; an unexpired stream is stopped first."""
        code = error_code(error)
        if code == EXPIRED:
            log.info("Slack stream %s expired; continuing with chat.update", self.ts)
        else:
            log.warning("Slack stream %s failed (%s); continuing with chat.update", self.ts, code)
            stream = self._stream
            if stream is not None:
                with contextlib.suppress(SlackApiError):
                    await call(lambda _: stream.stop(), attempts=2)
        self._fallback = self._posted()

    def _posted(self) -> PostedWriter:
        return PostedWriter(self._client, self._target, markdown=True, ts=self.ts, shown=self._sent)


def _sections(mrkdwn: str) -> Blocks:
    """The message's text as ``section`` blocks, each within Slack's 3,000 characters."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in split_markdown(mrkdwn, SECTION_LIMIT)
        if piece.strip()
    ]
