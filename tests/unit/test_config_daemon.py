"""[supervisord], the HTTP server sections, [supervisorctl], [grpc] and find_config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from supervisor_grpc.config import find_config, load
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import GrpcSpec, HttpKind, HttpServerSpec, LogLevel
from tests.unit.config_helpers import conf, load_body, write


def test_supervisord_defaults(tmp_path: Path) -> None:
    spec = load_body(tmp_path, "")
    assert spec.config_file == str(tmp_path / "supervisord.conf")
    assert spec.logfile == os.path.abspath("supervisord.log")
    assert spec.pidfile == os.path.abspath("supervisord.pid")
    assert (spec.logfile_maxbytes, spec.logfile_backups, spec.loglevel) == (
        50 * 1024**2,
        10,
        LogLevel.INFO,
    )
    assert (spec.nodaemon, spec.silent, spec.nocleanup, spec.strip_ansi) == (False,) * 4
    assert (spec.minfds, spec.minprocs, spec.umask) == (1024, 200, 0o022)
    assert (spec.user, spec.directory, spec.identifier) == (None, None, "supervisor")
    assert spec.childlogdir == tempfile.gettempdir()
    assert spec.environment == () and spec.groups == () and spec.http_servers == ()
    assert spec.grpc == GrpcSpec() and spec.ctl_serverurl is None and spec.warnings == ()


def test_supervisord_options(tmp_path: Path) -> None:
    head = f"""[supervisord]
logfile=%(here)s/main.log
logfile_maxbytes=1MB
logfile_backups=0
loglevel=BLATHER
pidfile=run.pid
nodaemon=true
silent=true
minfds=10
minprocs=20
umask=077
user=root
identifier=box-%(ENV_ID)s
directory={tmp_path}
nocleanup=true
childlogdir=%(here)s
strip_ansi=true
environment=A="1 2",B=%(ENV_ID)s
"""
    spec = load(conf(tmp_path, "", head=head), environ={"ID": "7"})
    assert spec.logfile == f"{tmp_path}/main.log" and spec.pidfile == os.path.abspath("run.pid")
    assert (spec.logfile_maxbytes, spec.logfile_backups, spec.loglevel) == (
        1024**2,
        0,
        LogLevel.BLATHER,
    )
    assert (spec.nodaemon, spec.silent, spec.nocleanup, spec.strip_ansi) == (True,) * 4
    assert (spec.minfds, spec.minprocs, spec.umask) == (10, 20, 0o077)
    assert (spec.user, spec.identifier, spec.directory) == ("root", "box-7", str(tmp_path))
    assert spec.childlogdir == str(tmp_path)
    assert spec.environment == (("A", "1 2"), ("B", "7"))


@pytest.mark.parametrize("value", ["/dev/stdout", "syslog"])
def test_supervisord_logfile_literal(tmp_path: Path, value: str) -> None:
    assert (
        load_body(
            tmp_path,
            "",
        ).logfile
        != value
    )
    spec = load(conf(tmp_path, "", head=f"[supervisord]\nlogfile={value}\n"))
    assert spec.logfile == value


def test_supervisord_has_no_host_node_name(tmp_path: Path) -> None:
    # supervisor offers only here and ENV_ names in [supervisord]
    with pytest.raises(ConfigError, match=r"\[supervisord\] identifier"):
        load(conf(tmp_path, "", head="[supervisord]\nidentifier=%(host_node_name)s\n"))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("logfile", "/nonexistent/dir/x.log"),
        ("pidfile", "/nonexistent/dir/x.pid"),
        ("logfile_maxbytes", "lots"),
        ("logfile_backups", "x"),
        ("loglevel", "loud"),
        ("nodaemon", "perhaps"),
        ("silent", "x"),
        ("minfds", "x"),
        ("minprocs", "x"),
        ("umask", "8"),
        ("user", "no-such-user-xyz"),
        ("directory", "/nonexistent/dir"),
        ("childlogdir", "/nonexistent/dir"),
        ("nocleanup", "x"),
        ("strip_ansi", "x"),
        ("environment", "A"),
        ("environment", "A=%(nope)s"),
    ],
)
def test_supervisord_errors(tmp_path: Path, option: str, value: str) -> None:
    path = conf(tmp_path, "", head=f"[supervisord]\n{option}={value}\n")
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert str(exc.value).startswith(f"{path} [supervisord] {option}: ")
    assert "\n" not in str(exc.value)


def test_supervisord_unknown_key_warns(tmp_path: Path) -> None:
    path = conf(tmp_path, "", head="[supervisord]\nbogus_key=1\n")
    assert load(path).warnings == (f"{path}: [supervisord] bogus_key: unknown option ignored",)


def test_unix_http_server(tmp_path: Path) -> None:
    body = (
        "[unix_http_server]\nfile=%(here)s/s.sock\nchmod=0770\nchown=root:0\n"
        "username=u\npassword={SHA}abc\n"
    )
    (server,) = load_body(tmp_path, body).http_servers
    assert server == HttpServerSpec(
        HttpKind.UNIX,
        f"{tmp_path}/s.sock",
        chmod=0o770,
        chown=(0, 0),
        username="u",
        password="{SHA}abc",
        section="unix_http_server",
    )


def test_unix_http_server_defaults_and_relative_path(tmp_path: Path) -> None:
    (server,) = load_body(tmp_path, "[unix_http_server]\nfile=rel.sock\n").http_servers
    assert (server.address, server.chmod, server.chown) == (
        os.path.abspath("rel.sock"),
        0o700,
        (-1, -1),
    )
    assert server.username is None and server.password is None


@pytest.mark.parametrize(
    ("port", "address"),
    [
        ("127.0.0.1:9001", "127.0.0.1:9001"),
        (":9001", ":9001"),
        ("*:9001", ":9001"),
        ("9001", ":9001"),
        ("LocalHost:1", "localhost:1"),
    ],
)
def test_inet_http_server(tmp_path: Path, port: str, address: str) -> None:
    (server,) = load_body(tmp_path, f"[inet_http_server]\nport={port}\n").http_servers
    assert (server.kind, server.address, server.section) == (
        HttpKind.INET,
        address,
        "inet_http_server",
    )


@pytest.mark.parametrize(
    ("body", "section", "key"),
    [
        ("[unix_http_server]\nchmod=0700\n", "unix_http_server", "file"),
        ("[unix_http_server]\nfile=/tmp/s\nchmod=999\n", "unix_http_server", "chmod"),
        ("[unix_http_server]\nfile=/tmp/s\nchown=no-such-user-xyz\n", "unix_http_server", "chown"),
        (
            "[unix_http_server]\nfile=/tmp/s\nchown=root:no-such-group-xyz\n",
            "unix_http_server",
            "chown",
        ),
        ("[unix_http_server]\nfile=/tmp/s\nusername=u\n", "unix_http_server", "password"),
        ("[inet_http_server]\nusername=u\npassword=p\n", "inet_http_server", "port"),
        ("[inet_http_server]\nport=localhost:\n", "inet_http_server", "port"),
        ("[inet_http_server]\nport=localhost:http\n", "inet_http_server", "port"),
        ("[inet_http_server]\nport=70000\n", "inet_http_server", "port"),
        ("[inet_http_server]\nport=9001\npassword=p\n", "inet_http_server", "username"),
    ],
)
def test_http_server_errors(tmp_path: Path, body: str, section: str, key: str) -> None:
    path = conf(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value).startswith(f"{path} [{section}] {key}: ")


def test_supervisorctl_serverurl(tmp_path: Path) -> None:
    spec = load_body(tmp_path, "[supervisorctl]\nserverurl=unix://%(here)s/../x/s.sock\n")
    assert spec.ctl_serverurl == f"unix://{tmp_path.parent}/x/s.sock"
    assert load_body(tmp_path, "[supervisorctl]\n").ctl_serverurl == "http://localhost:9001"


def test_grpc_section(tmp_path: Path) -> None:
    cert, key, ca = (write(tmp_path / n, "pem") for n in ("c.pem", "k.pem", "ca.pem"))
    write(tmp_path / "token", "  s3cret\n")
    body = (
        "[grpc]\nlisten = unix://%(here)s/g.sock, 0.0.0.0:50051\n  [::1]:7 :8\n"
        "chmod=0660\nchown=root\ntoken_file=%(here)s/token\n"
        f"tls_cert={cert}\ntls_key={key}\ntls_client_ca={ca}\n"
    )
    assert load_body(tmp_path, body).grpc == GrpcSpec(
        listen=(f"unix://{tmp_path}/g.sock", "0.0.0.0:50051", "[::1]:7", ":8"),
        chmod=0o660,
        chown=(0, -1),
        token="s3cret",
        tls_cert=cert,
        tls_key=key,
        tls_client_ca=ca,
    )


def test_grpc_defaults(tmp_path: Path) -> None:
    assert load_body(tmp_path, "[grpc]\ntoken=abc\n").grpc == GrpcSpec(token="abc")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("listen=unix://relative.sock", "listen"),
        ("listen=localhost", "listen"),
        ("listen=localhost:99999", "listen"),
        ("chmod=x", "chmod"),
        ("chown=no-such-user-xyz", "chown"),
        ("token_file=/nonexistent/token", "token_file"),
        ("token=a\ntoken_file=/etc/hostname", "token_file"),
        ("tls_cert=/nonexistent.pem\ntls_key=/nonexistent.pem", "tls_cert"),
        ("tls_cert=/etc/hostname", "tls_key"),
        ("tls_key=/etc/hostname", "tls_cert"),
        ("tls_client_ca=/etc/hostname", "tls_client_ca"),
        ("bogus=1", "bogus"),
    ],
)
def test_grpc_errors(tmp_path: Path, body: str, key: str) -> None:
    path = conf(tmp_path, f"[grpc]\n{body}\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value).startswith(f"{path} [grpc] {key}: ")
    assert "\n" not in str(exc.value)


def test_grpc_empty_token_file(tmp_path: Path) -> None:
    write(tmp_path / "t", "\n")
    with pytest.raises(ConfigError, match=r"\[grpc\] token_file: .*empty"):
        load_body(tmp_path, "[grpc]\ntoken_file=%(here)s/t\n")


def test_find_config_order(tmp_path: Path) -> None:
    prefix, cwd = tmp_path / "prefix", tmp_path / "cwd"
    exe_dir = prefix / "bin"
    exe_dir.mkdir(parents=True)
    cwd.mkdir()
    assert find_config(str(cwd), str(exe_dir)) in (
        None,
        "/etc/supervisord.conf",
        "/etc/supgrpc.conf",
        "/etc/supervisor/supervisord.conf",
        "/etc/supervisor/supgrpc.conf",
    )
    order = [
        cwd / "etc" / "supervisord.conf",
        cwd / "etc" / "supgrpc.conf",
        cwd / "supervisord.conf",
        cwd / "supgrpc.conf",
        prefix / "supervisord.conf",
        prefix / "supgrpc.conf",
        prefix / "etc" / "supervisord.conf",
        prefix / "etc" / "supgrpc.conf",
    ]
    for candidate in order:
        write(candidate, "[supervisord]\n")
        assert find_config(str(cwd), str(exe_dir)) == str(candidate)
