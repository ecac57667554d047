"""argon2 runs off the event loop on a bounded pool of threads (issue 13.11, second half)."""

from __future__ import annotations

import asyncio
import threading
import time

from projekt.core.security import Passwords


class CountingHasher:
    """Stands in for argon2: records the threads it runs on and how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()

    def _work(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.02)  # long enough for unbounded callers to overlap; asserts no timing
        with self.lock:
            self.running -= 1

    def verify(self, _stored: str, _password: str) -> bool:
        self._work()
        return False

    def hash(self, _password: str) -> str:
        self._work()
        return "$argon2id$fake"


async def test_verifications_run_off_the_loop_and_at_most_n_at_once() -> None:
    passwords = Passwords("cheap", threads=2)
    hasher = CountingHasher()
    passwords._hasher = hasher  # type: ignore[assignment]
    try:
        results = await asyncio.gather(
            *(passwords.verify("$argon2id$stored", "wrong password") for _ in range(12)),
            *(passwords.hash("new password") for _ in range(4)),
        )
    finally:
        passwords.close()
    assert results[:12] == [False] * 12
    assert hasher.most == 2
    assert threading.main_thread().name not in hasher.threads
    assert all(name.startswith("argon2") for name in hasher.threads)


def test_the_pool_size_is_a_setting() -> None:
    from tests.conftest import make_settings

    assert make_settings().password_hash_threads == 2
    assert make_settings(password_hash_threads=4).password_hash_threads == 4
