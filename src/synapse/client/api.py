"""An httpx client of the SYNAPSE HTTP API, with the token from the settings."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from synapse.config import Settings


class ApiError(Exception):
    """The API said no (`status` >= 400), or could not be reached (`status` 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    return str(detail or body)


class ApiClient:
    def __init__(self, base_url: str, token: str = "", *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        return cls(settings.api_url, settings.token)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                0,
                f"cannot reach SYNAPSE at {self.base_url} ({exc}); is it running? "
                "(set SYNAPSE_API_URL)",
            ) from None
        if response.status_code == 401:
            raise ApiError(401, f"{_detail(response)} (set SYNAPSE_TOKEN)")
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response.json()

    # -- the endpoints the CLI uses ---------------------------------------------------------

    def upload_csv(
        self,
        path: Path,
        *,
        project: str,
        priority: str = "default",
        mode: str = "upsert",
        skip_invalid: bool = False,
    ) -> dict[str, Any]:
        with path.open("rb") as fh:
            body: dict[str, Any] = self.request(
                "POST",
                "/api/v1/ingestion/upload-csv",
                files={"file": (path.name, fh, "text/csv")},
                data={
                    "project_id": project,
                    "priority": priority,
                    "mode": mode,
                    "skip_invalid": str(skip_invalid).lower(),
                },
                timeout=300,
            )
        return body

    def jobs(self, **query: Any) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        body: dict[str, Any] = self.request("GET", "/api/v1/jobs", params=params)
        return body

    def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("GET", f"/api/v1/jobs/{job_id}")
        return body

    def cancel(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("POST", f"/api/v1/jobs/{job_id}/cancel")
        return body

    def retry(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("POST", f"/api/v1/jobs/{job_id}/retry")
        return body

    def logs(self, job_id: str, *, after_id: int = 0) -> list[dict[str, Any]]:
        body = self.request("GET", f"/api/v1/jobs/{job_id}/logs", params={"after_id": after_id})
        items: list[dict[str, Any]] = body["items"]
        return items

    def ws_url(self, job_id: str | None = None) -> str:
        url = "ws" + self.base_url.removeprefix("http") + "/ws/logs"
        return f"{url}?job_id={job_id}" if job_id else url
