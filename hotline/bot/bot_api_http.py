"""python-telegram-bot's HTTP requests made with aiohttp instead of httpx (issue 14).

PTB builds every Bot API call (the parameters, the errors Telegram answers: RetryAfter, Forbidden,
BadRequest...) and hands only the HTTP exchange to a :class:`~telegram.request.BaseRequest`. Its own,
on httpx and httpcore, costs about three times aiohttp's CPU a request (sendMessage to the emulator on
loopback: ~0.64 ms against ~0.18 ms, the emulator's share included in both): two requests a crisis
(the reply and the alert) were a quarter of a crisis burst's CPU. This class makes the same exchange
with aiohttp: the same form-encoded parameters (files as multipart), the same User-Agent, the same
timeouts (read, connect, waiting for a pooled connection; aiohttp has no write timeout of its own: the
whole exchange is bounded by the sum of the four), the same errors (``TimedOut``, ``NetworkError``).

The proxy is the one the standard variables name, as httpx reads them (``Settings.telegram_proxy``),
resolved once at start, as for LINE; certificates are checked against certifi's bundle, as httpx does.
"""

from __future__ import annotations

import ssl

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A :class:`~telegram.request.BaseRequest` on one aiohttp session (PTB's defaults otherwise)."""

    def __init__(
        self,
        *,
        connection_pool_size: int,
        proxy: str | None = None,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = proxy
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, ssl=ssl.create_default_context(cafile=certifi.where())
            )
            # trust_env off: the proxy is resolved once (given above), not looked up on every request.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        write_default = self._media_write_timeout if files else self._write_timeout
        write = write_default if isinstance(write_timeout, DefaultValue) else write_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        parts = (connect, pool, write, read)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: the whole exchange is bounded by the sum of the four instead
            total=None if None in parts else sum(t or 0.0 for t in parts),
            # aiohttp's ``connect`` includes the wait for a free pooled connection
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            parameters = request_data.json_parameters
            if files:
                form = aiohttp.FormData(parameters)
                for name, part in files.items():
                    if isinstance(part, tuple):
                        filename, content, *mimetype = part
                        form.add_field(
                            name, content, filename=filename, content_type=mimetype[0] if mimetype else None
                        )
                    else:
                        form.add_field(name, part)
                data = form
            elif parameters:
                data = parameters
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers={"User-Agent": self.USER_AGENT},
                timeout=timeout,
                proxy=self._proxy,
                allow_redirects=False,  # as httpx's default
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # the URL carries the bot's token: never in a message that may be logged (DESIGN §5b)
            reason = str(err).replace(url, "<Bot API URL>")
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {reason}") from err


__all__ = ["AiohttpRequest"]
