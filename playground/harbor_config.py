"""The configuration Harbor's installer would generate, for the harbor
stack: secrets, env files and the files Harbor's containers mount.

Every generated value is an owner-only file in the stack's secrets folder
(playground.credentials), made once and then reused. These are the admin
and database passwords, the secrets that core, job service and registry
controller share, the registry's basic-auth password, the CSRF key, the key
that encrypts stored credentials, and the RSA key that signs registry
tokens. The files built from them go to ``generated/`` in the stack's state
folder.
"""

from __future__ import annotations

import datetime
import os
import secrets
import string
from pathlib import Path

from playground.credentials import ensure_secret, read_secret

GENERATED = "generated"
ADMIN_PASSWORD = "harbor_admin_password"
REGISTRY_USER = "harbor_registry_user"
# Harbor's containers run as this user and group. When playground runs as
# root, the files they read from a bind mount are given to this owner.
CONTAINER_UID = 10000
# Harbor's installer makes the token-signing key this size.
KEY_BITS = 4096
BCRYPT_COST = 5
_ALPHANUMERIC = string.ascii_letters + string.digits
# Secret name and length. Harbor requires the CSRF key to be 32 characters
# and the secret key, an AES key, 16.
_SECRET_LENGTHS = {
    "harbor_db_password": 32,
    "harbor_core_secret": 16,
    "harbor_jobservice_secret": 16,
    "harbor_registry_password": 32,
    "harbor_csrf_key": 32,
    "harbor_secret_key": 16,
    "harbor_scanner_prefix": 8,
}
_TOKEN_KEY = "harbor_token_key.pem"
_PROXY_CACHE_TYPES = (
    "docker-hub", "harbor", "azure-acr", "ali-acr", "aws-ecr", "google-gcr",
    "docker-registry", "github-ghcr", "jfrog-artifactory",
)
_REPLICATION_TYPES = (
    "ali-acr", "aws-ecr", "azure-acr", "docker-hub", "docker-registry", "github-ghcr",
    "google-gcr", "harbor", "huawei-SWR", "jfrog-artifactory", "tencent-tcr",
    "volcengine-cr",
)
_REDIS = "redis://redis:6379"
_IDLE = "idle_timeout_seconds=30"


# Secrets


def random_string(length: int) -> str:
    """Return ``length`` random letters and digits, the alphabet Harbor's
    installer uses for its generated secrets."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def admin_password() -> str:
    """Return a random admin password that meets Harbor's password rule:
    8 to 128 characters with an upper-case letter, a lower-case letter and
    a digit."""
    while True:
        password = random_string(24)
        if (
            any(c.isupper() for c in password)
            and any(c.islower() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


def token_key_pem() -> str:
    """Return a new RSA private key in PKCS#1 PEM, the form Harbor's
    installer writes with ``openssl genrsa -traditional``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def ensure_harbor_secrets(state_dir: Path) -> dict[str, str]:
    """Create the missing secret files and return every value by name."""
    ensure_secret(state_dir, ADMIN_PASSWORD, admin_password)
    for name, length in _SECRET_LENGTHS.items():
        ensure_secret(state_dir, name, lambda length=length: random_string(length))
    ensure_secret(state_dir, _TOKEN_KEY, token_key_pem)

    names = [ADMIN_PASSWORD, *_SECRET_LENGTHS, _TOKEN_KEY]
    values = {name: read_secret(state_dir, name) or "" for name in names}
    values[_TOKEN_KEY] += "\n"
    return values


# Generated files


def env_files(values: dict[str, str], external_url: str) -> dict[str, str]:
    """Return the env files of core, job service, registry controller and
    database, by file name. ``external_url`` is where clients reach Harbor."""
    shared = {
        "CORE_SECRET": values["harbor_core_secret"],
        "JOBSERVICE_SECRET": values["harbor_jobservice_secret"],
    }
    registry = {
        "REGISTRY_URL": "http://registry:5000",
        "REGISTRY_CONTROLLER_URL": "http://registryctl:8080",
        "REGISTRY_CREDENTIAL_USERNAME": REGISTRY_USER,
        "REGISTRY_CREDENTIAL_PASSWORD": values["harbor_registry_password"],
        "CORE_URL": "http://core:8080",
        "LOG_LEVEL": "info",
    }
    core = {
        **shared,
        **registry,
        **_core_settings(values, external_url),
    }
    jobservice = {
        **shared,
        **registry,
        "JOBSERVICE_WEBHOOK_JOB_MAX_RETRY": "3",
        "JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT": "3",
    }
    files = {
        "core.env": core,
        "jobservice.env": jobservice,
        "registryctl.env": shared,
        "db.env": {"POSTGRES_PASSWORD": values["harbor_db_password"]},
    }
    return {name: _env_text(variables) for name, variables in files.items()}


def _core_settings(values: dict[str, str], external_url: str) -> dict[str, str]:
    """Return core's own variables: where its neighbours are, the database,
    Redis, and which registry types a proxy-cache project may use."""
    return {
        "CONFIG_PATH": "/etc/core/app.conf",
        "EXT_ENDPOINT": external_url,
        "PORT": "8080",
        "CORE_LOCAL_URL": "http://127.0.0.1:8080",
        "PORTAL_URL": "http://portal:8080",
        "JOBSERVICE_URL": "http://jobservice:8080",
        "TOKEN_SERVICE_URL": "http://core:8080/service/token",
        "WITH_TRIVY": "False",
        "HARBOR_ADMIN_PASSWORD": values[ADMIN_PASSWORD],
        "CSRF_KEY": values["harbor_csrf_key"],
        "ROBOT_SCANNER_NAME_PREFIX": values["harbor_scanner_prefix"],
        "DATABASE_TYPE": "postgresql",
        "POSTGRESQL_HOST": "postgresql",
        "POSTGRESQL_PORT": "5432",
        "POSTGRESQL_USERNAME": "postgres",
        "POSTGRESQL_PASSWORD": values["harbor_db_password"],
        "POSTGRESQL_DATABASE": "registry",
        "POSTGRESQL_SSLMODE": "disable",
        "POSTGRESQL_MAX_IDLE_CONNS": "100",
        "POSTGRESQL_MAX_OPEN_CONNS": "900",
        "POSTGRESQL_CONN_MAX_LIFETIME": "5m",
        "POSTGRESQL_CONN_MAX_IDLE_TIME": "0",
        "_REDIS_URL_CORE": f"{_REDIS}?{_IDLE}",
        "_REDIS_URL_REG": f"{_REDIS}/1?{_IDLE}",
        "SYNC_QUOTA": "true",
        "MAX_JOB_WORKERS": "10",
        "REGISTRY_STORAGE_PROVIDER_NAME": "filesystem",
        "READ_ONLY": "false",
        # The registry types Harbor v2.14's installer permits.
        "PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE": ",".join(_PROXY_CACHE_TYPES),
        "REPLICATION_ADAPTER_WHITELIST": ",".join(_REPLICATION_TYPES),
    }


def _env_text(variables: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in variables.items())


def htpasswd_line(user: str, password: str) -> str:
    """Return one htpasswd line with a bcrypt hash, the only hash the
    Distribution registry accepts.

    The registry checks the hash on every request core sends it, so the
    cost is ``htpasswd -B``'s default, 5, not bcrypt's default of 12 (about
    0.2 s per check).
    """
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST)).decode()
    return f"{user}:{hashed}\n"


def token_certificate(key_pem: str) -> str:
    """Return a self-signed certificate for the token-signing key, valid
    for ten years, as Harbor's installer makes for the registry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbor-token-issuer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def write_generated(state_dir: Path, values: dict[str, str], external_url: str) -> Path:
    """Write every generated file into ``generated/`` of the state folder
    and return that folder (mode 0700).

    A file whose content is still valid stays as it is, so a second ``up``
    changes no file that a running container has mounted.
    """
    folder = state_dir / GENERATED
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    for name, text in env_files(values, external_url).items():
        _write(folder / name, text)

    # Files that Harbor's containers read through a bind mount.
    mounted = {
        "registry/passwd": _passwd_text(
            folder / "registry/passwd", values["harbor_registry_password"]
        ),
        "registry/root.crt": _certificate_text(
            folder / "registry/root.crt", values[_TOKEN_KEY]
        ),
        "core/private_key.pem": values[_TOKEN_KEY],
        "core/secretkey": values["harbor_secret_key"],
    }
    for name, text in mounted.items():
        _write(folder / name, text)
        _hand_to_container(folder / name)
    return folder


def _passwd_text(path: Path, password: str) -> str:
    """Return the htpasswd file at ``path`` if it still matches
    ``password``, else a new one (bcrypt salts differ on every hash)."""
    import bcrypt

    if path.exists():
        old = path.read_text()
        user, _, hashed = old.strip().partition(":")
        try:
            matches = bcrypt.checkpw(password.encode(), hashed.encode())
        except ValueError:
            matches = False
        if user == REGISTRY_USER and matches:
            return old
    return htpasswd_line(REGISTRY_USER, password)


def _certificate_text(path: Path, key_pem: str) -> str:
    """Return the certificate at ``path`` if it is for ``key_pem``'s public
    key, else a new self-signed one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if path.exists():
        old = path.read_text()
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        try:
            public = x509.load_pem_x509_certificate(old.encode()).public_key()
        except ValueError:
            return token_certificate(key_pem)
        if public.public_numbers() == key.public_key().public_numbers():
            return old
    return token_certificate(key_pem)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with a file of mode 0600 that contains ``text``,
    unless it contains ``text`` already."""
    path.parent.mkdir(exist_ok=True, mode=0o700)
    if path.exists() and path.read_text() == text:
        return
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _hand_to_container(path: Path) -> None:
    """Let Harbor's container user read a bind-mounted file.

    As root, the file keeps mode 0600 and goes to uid and gid 10000, as
    Harbor's installer does. Otherwise it becomes readable by all, which
    only reaches users who can enter the 0700 folders above it.
    """
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
        return
    # NOTE: without root, playground cannot give the file to uid 10000, so
    # the token-signing key becomes readable by every user. Only the 0700
    # folders above it keep other users of this machine out.
    os.chmod(path, 0o644)
