"""The demo's media: a short audio clip of any length, made here (nothing is fetched).

GET /media/clip-{seconds}.wav: 8 kHz, 8-bit mono PCM (8 KB a second), a soft
tone with a click at each whole second, so a person hears the position move.
Made once per length into a temporary directory and served with Range
support (media elements seek with Range requests).
"""

import math
import tempfile
import wave
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

RATE = 8000
MAX_SECONDS = 600
DIRECTORY = Path(tempfile.gettempdir()) / "gql-server-media"


def clip(seconds: int) -> Path:
    """The clip of `seconds` seconds, made on first use."""
    path = DIRECTORY / f"clip-{seconds}.wav"
    if path.exists():
        return path
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    one_second = bytes(
        128 + int((40 if i < 200 else 12) * math.sin(2 * math.pi * 440 * i / RATE))
        for i in range(RATE)
    )
    partial = path.with_suffix(f".{id(path)}.part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(RATE)
        out.writeframes(one_second * seconds)
    partial.replace(path)  # whole or not at all, whoever asks at the same time
    return path


async def clip_response(request: Request) -> Response:
    seconds = request.path_params["seconds"]
    if not 1 <= seconds <= MAX_SECONDS:
        body = {"errors": [{"message": f"a clip is 1..{MAX_SECONDS} seconds long",
                            "extensions": {"code": 400, "status": 400}}]}  # fmt: skip
        return JSONResponse(body, status_code=400)
    return FileResponse(
        clip(seconds), media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"}
    )
