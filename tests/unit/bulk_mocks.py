"""Mocked Marketo bulk answers and a fake clock, shared by the unit tests of exports."""

from __future__ import annotations

import hashlib

ROOT = "https://mkto.example.com"
BULK = f"{ROOT}/bulk/v1/leads/export"
CONTENT = b'id,email\n1,"a,b@example.com"\n2,null\n'


def checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ok(**job) -> dict:
    return {"requestId": "r", "success": True, "result": [job]}


def completed(export_id: str, data: bytes = CONTENT, records: int = 2) -> dict:
    return ok(
        exportId=export_id,
        status="Completed",
        format="CSV",
        numberOfRecords=records,
        fileSize=len(data),
        fileChecksum=checksum(data),
    )


class Clock:
    """A fake clock that sleeping advances, so polling tests take no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
