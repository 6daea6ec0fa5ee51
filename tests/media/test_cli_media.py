"""``kimi-bot ask --image PATH``: a real subprocess against the Moonshot emulator, the picture
made with Pillow on the spot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.cli.common import KIMI_BOT, clean_env
from tests.conftest import EMULATOR_KEY
from tests.media.images import image, image_parts


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """The CLI without blocking the loop the emulator answers from."""
    process = await asyncio.create_subprocess_exec(
        KIMI_BOT,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_ask_with_two_images_sends_both(tmp_path: Path, moonshot: Any) -> None:
    first, second = tmp_path / "red.png", tmp_path / "blue.webp"
    first.write_bytes(image("PNG", (40, 40), "red"))
    second.write_bytes(image("WEBP", (40, 40), "blue"))
    env = clean_env(tmp_path, MOONSHOT_BASE_URL=moonshot.base_url, MOONSHOT_API_KEY=EMULATOR_KEY)
    status, out, err = await run(
        "ask", "--image", str(first), "-i", str(second), "Which is warmer?", env=env, cwd=tmp_path
    )
    assert status == 0, err
    assert out.strip(), "an answer was printed"
    urls = image_parts(moonshot)
    assert [url.split(";")[0] for url in urls] == ["data:image/png", "data:image/webp"]


async def test_ask_with_a_missing_image_is_one_clear_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    status, out, err = await run(
        "ask", "--image", str(tmp_path / "nope.png"), "what is it?", env=env, cwd=tmp_path
    )
    assert status == 2 and out == ""
    assert err.strip() == f"kimi-bot ask: no such file: {tmp_path / 'nope.png'}"
