"""The stored speech played in a real browser (Debian's headless Chromium): a page on the allowed
origin fetches GET /history/<id>/audio with its bearer token into a blob, plays it in an <audio>
element, seeks, and reads a part of it with a Range request; nothing fails."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audiotricks import create_app
from audiotricks.extensions import db
from audiotricks.jobs.speech import join_mp3
from audiotricks.models import HistoryItem
from tests.conftest import PASSWORD, make_config
from tests.edge.test_browser_cors import browser, origins, served  # noqa: F401  (fixtures)
from tests.providers.elevenlabs_standin import mp3_bytes

PLAY = """
const [api, token, itemId, done] = arguments;
const url = api + "/api/v1/history/" + itemId + "/audio";
const auth = {Authorization: "Bearer " + token};
function once(element, name) {
  return new Promise((resolve, reject) => {
    element.addEventListener(name, resolve, {once: true});
    element.addEventListener("error", () => reject(new Error("media error " +
      (element.error && element.error.code))), {once: true});
  });
}
(async () => {
  try {
    const whole = await fetch(url, {headers: auth});
    const blob = await whole.blob();
    const audio = document.createElement("audio");
    audio.muted = true;
    document.body.appendChild(audio);
    const loaded = once(audio, "loadedmetadata");
    audio.src = URL.createObjectURL(blob);
    await loaded;
    await audio.play();
    const seeked = once(audio, "seeked");
    audio.currentTime = audio.duration / 2;
    await seeked;
    const part = await fetch(url, {headers: {...auth, Range: "bytes=100-199"}});
    const partBytes = new Uint8Array(await part.arrayBuffer());
    const sameBytes = new Uint8Array(await blob.slice(100, 200).arrayBuffer());
    done({
      status: whole.status, type: blob.type, size: blob.size, duration: audio.duration,
      position: audio.currentTime, paused: audio.paused, error: audio.error && audio.error.code,
      rangeStatus: part.status, contentRange: part.headers.get("Content-Range"),
      rangeMatches: partBytes.length === 100 && partBytes.every((b, i) => b === sameBytes[i]),
    });
  } catch (e) {
    done({failed: e.name + ": " + e.message});
  }
})();
"""


def _call(url: str, method: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def audio_api(
    origins: dict[str, str], tmp_path_factory: pytest.TempPathFactory  # noqa: F811
) -> Iterator[dict[str, Any]]:
    """The app served for real, with a user whose item has stored speech of 12 seconds."""
    folder = tmp_path_factory.mktemp("browser-audio")
    config = make_config(
        f"sqlite:///{folder / 'api.db'}",
        cors_origins=(origins["allowed"],),
        audio_dir=str(folder / "audio"),
        queue_url=f"sqlite:///{folder / 'queue.db'}",
    )
    app = create_app(config)
    with served(app) as url:
        api = url + "/api/v1"
        _call(api + "/auth/register", "POST",
              {"email": "erin@example.com", "username": "erin", "password": PASSWORD})
        token = _call(api + "/auth/login", "POST",
                      {"email": "erin@example.com", "password": PASSWORD})["data"]["token"]
        item = _call(api + "/history", "POST",
                     {"title": "Spoken", "transcript": {"text": "Hello."}}, token)["data"]["item"]
        # Speech as a job makes it: parts from the provider, joined, stored with the item.
        (folder / "audio").mkdir()
        parts = []
        for index in range(3):
            part = folder / f"part-{index}.mp3"
            part.write_bytes(mp3_bytes(4.0))
            parts.append(str(part))
        name = f"{item['id']}.{uuid.uuid4().hex}.mp3"
        join_mp3(parts, str(folder / "audio" / name))
        with app.app_context():
            stored = db.session.get(HistoryItem, uuid.UUID(item["id"]))
            assert stored is not None
            stored.audio_path = name
            db.session.commit()
        yield {"url": url, "token": token, "item_id": item["id"], "file": folder / "audio" / name}


@pytest.mark.browser
def test_the_allowed_origin_plays_and_seeks_the_stored_speech(
    browser: Any, origins: dict[str, str], audio_api: dict[str, Any]  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(origins["allowed"] + "/")
    # A person presses play: the page then may play sound (Chromium's autoplay policy).
    browser.execute_script(
        "const b = document.createElement('button'); b.id = 'play'; b.textContent = 'Play';"
        "document.body.appendChild(b);"
    )
    browser.find_element(By.ID, "play").click()
    result = browser.execute_async_script(
        PLAY, audio_api["url"], audio_api["token"], audio_api["item_id"]
    )
    size = Path(audio_api["file"]).stat().st_size
    assert "failed" not in result, result
    assert result["status"] == 200 and result["type"] == "audio/mpeg"
    assert result["size"] == size
    assert abs(result["duration"] - 12.0) < 0.5
    assert abs(result["position"] - result["duration"] / 2) < 0.5
    assert result["error"] is None and result["paused"] is False
    assert result["rangeStatus"] == 206
    assert result["contentRange"] == f"bytes 100-199/{size}"
    assert result["rangeMatches"] is True
