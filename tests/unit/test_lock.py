import os

import pytest

from playground.errors import StackBusy
from playground.lock import lock_path, stack_lock


def test_second_holder_rejected_with_holder_named(tmp_path):
    with stack_lock(tmp_path, "web"), pytest.raises(StackBusy) as error:
        with stack_lock(tmp_path, "web"):
            pass
    assert "stack web is busy" in error.value.message
    assert f"process {os.getpid()}" in error.value.message
    assert error.value.exit_code == 1


def test_lock_released_after_block(tmp_path):
    with stack_lock(tmp_path, "web"):
        pass
    assert lock_path(tmp_path, "web").read_text() == ""
    with stack_lock(tmp_path, "web"):
        pass


def test_other_stacks_not_blocked(tmp_path):
    with stack_lock(tmp_path, "web"), stack_lock(tmp_path, "logging"):
        pass


def test_lock_file_owner_only(tmp_path):
    with stack_lock(tmp_path, "web"):
        assert lock_path(tmp_path, "web").stat().st_mode & 0o777 == 0o600
