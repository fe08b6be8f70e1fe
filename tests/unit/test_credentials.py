import stat

from playground.credentials import ensure_secrets, read_secret


def test_secrets_are_private_and_reused(tmp_path):
    first = ensure_secrets(tmp_path, ["db_password", "root"])
    mode = stat.S_IMODE(first["db_password"].stat().st_mode)
    folder_mode = stat.S_IMODE(first["db_password"].parent.stat().st_mode)
    value = read_secret(tmp_path, "db_password")

    second = ensure_secrets(tmp_path, ["db_password", "root"])

    assert mode == 0o600
    assert folder_mode == 0o700
    assert value and len(value) >= 24
    assert read_secret(tmp_path, "db_password") == value
    assert second == first
    assert read_secret(tmp_path, "root") != value


def test_missing_secret_reads_none(tmp_path):
    assert read_secret(tmp_path, "absent") is None
