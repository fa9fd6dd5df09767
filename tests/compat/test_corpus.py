"""Real-world configurations (tests/corpus/, taken unchanged from public images): each must
start under supgrpcd with the same processes, groups and states as under supervisord 4.3.0.

Both daemons run at the same time on the same stubbed files (tests/compat/corpus_stub.py says
what the stubbing changes); once each has settled, its ``getAllProcessInfo`` (plus each
running process's working directory), ``getAllConfigInfo`` and ``supervisorctl status``
(supervisor's own, normalised for pids, uptimes and the temporary root) must be the same.
A case that needs a feature not implemented yet is expected to be refused today, by that
feature's name (``xfail(strict=True)``: it fails loudly once the
feature lands, so the mark is removed then).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.compat.corpus_run import Outcome, run_pair
from tests.compat.corpus_stub import CORPUS, Case

pytestmark = pytest.mark.compat

EL_HANDLER = "needs [eventlistener] (issue 12) and a Python result_handler"
DEBIAN = ("brandscreen__supervisor__debian__supervisord.conf", "/etc/supervisor/supervisord.conf")
SE_BASE = ("SeleniumHQ__docker-selenium__Base__supervisord.conf", "/etc/supervisord.conf")
SE_ENV = {
    "SE_SUPERVISORD_CHILD_LOG_DIR": "/tmp",
    "SE_SUPERVISORD_LOG_FILE": "/tmp/supervisord.log",
    "SE_SUPERVISORD_LOG_LEVEL": "info",
    "SE_SUPERVISORD_PID_FILE": "/tmp/supervisord.pid",
    "SEL_USER": "seluser",
    "SE_ENABLE_BROWSER_LEFTOVERS_CLEANUP": "false",
}
# What supgrpcd names when it refuses, by design and for now, a case marked as needing it.
FEATURE_NAMES = {
    EL_HANDLER: ("eventlistener sections", "result_handler"),
}
DEBIAN_DIRS = ("/var/log/supervisor", "/var/run")


def _conf_d(
    folder: str, *names: str, at: str = "/etc/supervisor/conf.d"
) -> tuple[tuple[str, str], ...]:
    return tuple((f"{folder}/{at.lstrip('/')}/{n}", f"{at}/{n}") for n in names)


CASES = [
    Case(
        "selenium-node-chrome",
        (
            SE_BASE,
            *_conf_d(
                "SeleniumHQ__docker-selenium__node-chrome", "selenium.conf", "chrome-cleanup.conf"
            ),
        ),
        env=SE_ENV,
        dirs=("/var/log/supervisor",),
    ),
    Case(
        "selenium-standalone-chrome",
        (
            SE_BASE,
            *_conf_d(
                "SeleniumHQ__docker-selenium__standalone-chrome",
                "selenium.conf",
                "chrome-cleanup.conf",
            ),
        ),
        env=SE_ENV,
        dirs=("/var/log/supervisor",),
    ),
    Case(
        "selenium-hub",
        (SE_BASE, *_conf_d("SeleniumHQ__docker-selenium__hub", "selenium-grid-hub.conf")),
        env=SE_ENV,
    ),
    Case(
        "selenium-video",
        (("SeleniumHQ__docker-selenium__Video__supervisord.conf", "/etc/supervisord.conf"),),
        env={**SE_ENV, "SE_VIDEO_INTERNAL_UPLOAD": "true"},
    ),
    Case(
        "docker-mailserver",
        (
            (
                "docker-mailserver__docker-mailserver__target__supervisor__supervisord.conf",
                "/etc/supervisor/supervisord.conf",
            ),
            *_conf_d(
                "docker-mailserver__docker-mailserver__target__supervisor__supervisord",
                "dms-services.conf",
                "saslauth.conf",
            ),
        ),
        env={
            "POSTGREY_DELAY": "300",
            "POSTGREY_MAX_AGE": "35",
            "POSTGREY_AUTO_WHITELIST_CLIENTS": "5",
            "POSTGREY_TEXT": "Delayed by Postgrey",
            "FETCHMAIL_POLL": "300",
            "SASLAUTHD_MECH_OPTIONS": "",
        },
        dirs=("/var/log/mail",),
    ),
    *(
        Case(
            f"mailcow-{name}",
            (
                (
                    f"mailcow__mailcow-dockerized__data__Dockerfiles__{name}__supervisord.conf",
                    "/etc/supervisor/supervisord.conf",
                ),
            ),
            )
        for name in ("dovecot", "postfix", "sogo")
    ),
    Case(
        "onlyoffice-documentserver",
        (
            DEBIAN,
            *_conf_d(
                "ONLYOFFICE__Docker-DocumentServer__config__supervisor__ds",
                "ds.conf",
                "ds-adminpanel.conf",
                "ds-converter.conf",
                "ds-docservice.conf",
                "ds-example.conf",
                "ds-metrics.conf",
            ),
        ),
        dirs=DEBIAN_DIRS,
    ),
    Case(
        "passbolt",
        (
            DEBIAN,
            *_conf_d(
                "passbolt__passbolt_docker__conf__supervisor", "cron.conf", "nginx.conf", "php.conf"
            ),
        ),
        dirs=DEBIAN_DIRS,
    ),
    Case(
        "ubuntu-vnc-desktop",
        (
            DEBIAN,
            *_conf_d(
                "fcwu__docker-ubuntu-vnc-desktop__rootfs__etc__supervisor__conf.d__supervisord",
                "supervisord.conf",
            ),
        ),
        subst={"%USER%": "root", "%HOME%": "/root"},
        dirs=DEBIAN_DIRS,
    ),
    Case(
        "webdevops-php-nginx",
        (
            (
                "webdevops__Dockerfile__provisioning__base__general__etc__supervisor.conf",
                "/opt/docker/etc/supervisor.conf",
            ),
            *_conf_d(
                "webdevops__Dockerfile__php-nginx",
                "cron.conf",
                "dnsmasq.conf",
                "nginx.conf",
                "php-fpm.conf",
                "postfix.conf",
                "ssh.conf",
                "syslog.conf",
                at="/opt/docker/etc/supervisor.d",
            ),
        ),
        args=("--logfile", "/dev/null", "--pidfile", "/var/run/supervisord.pid", "--user", "root"),
        dirs=("/var/run",),
    ),
    Case(
        "laravel-sail",
        (
            (
                "laravel__sail__runtimes__8.4__supervisord.conf",
                "/etc/supervisor/conf.d/supervisord.conf",
            ),
        ),
        env={
            "SUPERVISOR_PHP_COMMAND": "/usr/bin/php -d variables_order=EGPCS "
            "/var/www/html/artisan serve --host=0.0.0.0 --port=80",
            "SUPERVISOR_PHP_USER": "sail",
        },
    ),
    Case(
        "trafex-php-nginx",
        (
            (
                "TrafeX__docker-php-nginx__config__supervisord.conf",
                "/etc/supervisor/conf.d/supervisord.conf",
            ),
        ),
    ),
    Case(
        "richarvey-nginx-php-fpm",
        (("richarvey__nginx-php-fpm__conf__supervisord.conf", "/etc/supervisord.conf"),),
        args=("-n",),
    ),
    Case(
        "awx-devel",
        (("ansible__awx__tools__docker-compose__supervisor.conf", "/etc/supervisord.conf"),),
        # supervisord imports result_handler = supervisor_stdout:event_handler (Python code
        # named by the config); the [eventlistener] work refuses handlers it cannot run.
        needs=EL_HANDLER,
    ),
    Case(
        "awx-17-web",
        (
            (
                "ansible__awx__installer__roles__image_build__files__supervisor.conf",
                "/etc/supervisord.conf",
            ),
        ),
    ),
    Case(
        "misp-core",
        (
            (
                "MISP__misp-docker__core__files__etc__supervisor__supervisord.conf",
                "/etc/supervisor/supervisord.conf",
            ),
            *_conf_d(
                "MISP__misp-docker__core__files__etc__supervisor__supervisord",
                "10-supervisor.conf",
                "40-stunnel.conf",
                "50-workers.conf",
            ),
        ),
        env={
            "SUPERVISOR_USERNAME": "supervisor",
            "SUPERVISOR_PASSWORD": "supervisor",
            "NUM_WORKERS_DEFAULT": "5",
            "NUM_WORKERS_PRIO": "5",
            "NUM_WORKERS_EMAIL": "5",
            "NUM_WORKERS_UPDATE": "1",
            "NUM_WORKERS_CACHE": "5",
            "STUNNEL": "false",
            "STUNNEL_CONFIG": "/etc/stunnel/stunnel.conf",
        },
        dirs=("/var/log/supervisor", "/var/run"),
    ),
    Case(
        "invoiceninja",
        (
            (
                "invoiceninja__dockerfiles__debian__supervisor__supervisord.conf",
                "/etc/supervisor/conf.d/supervisord.conf",
            ),
        ),
    ),
    Case(
        "nextcloud-fpm-full",
        (
            (
                "nextcloud__docker__.examples__dockerfiles__full__fpm__supervisord.conf",
                "/supervisord.conf",
            ),
        ),
    ),
    Case(
        "nextcloud-aio-master",
        (
            (
                "nextcloud__all-in-one__Containers__mastercontainer__supervisord.conf",
                "/supervisord.conf",
            ),
        ),
        env={"AIO_LOG_LEVEL": "warn", "SUPERVISORD_STDOUT": "NONE"},
    ),
    Case(
        "nextcloud-aio-talk",
        (("nextcloud__all-in-one__Containers__talk__supervisord.conf", "/supervisord.conf"),),
        env={"AIO_LOG_LEVEL": "warn", "JANUS_LOG_LEVEL": "1"},
    ),
    Case(
        "zabbix-web-nginx-pgsql",
        (
            (
                "zabbix__zabbix-docker__Dockerfiles__web-nginx-pgsql__ubuntu__conf__etc__supervisor__supervisord.conf",
                "/etc/supervisor/supervisord.conf",
            ),
            *_conf_d(
                "zabbix__zabbix-docker__Dockerfiles__web-nginx-pgsql__ubuntu__conf__etc__supervisor__supervisord",
                "supervisord_zabbix.conf",
            ),
        ),
        dirs=("/tmp",),
    ),
    Case(
        "paperless-ngx",
        (("paperless-ngx__paperless-ngx__docker__supervisord.conf", "/etc/supervisord.conf"),),
    ),
    Case(
        "cvat-worker-export",
        (("cvat-ai__cvat__supervisord__worker.export.conf", "/etc/supervisord.conf"),),
        env={"HOME": "/home/django", "CVAT_REDIS_HOST": "cvat_redis_inmem", "NUMPROCS": "2"},
        dirs=("/home/django/logs",),
    ),
    Case(
        "laravel-queue-worker",
        (
            (
                "ipunkt__docker-laravel-queue-worker__laravel-worker.conf.tpl.conf",
                "/etc/supervisor/conf.d/laravel-worker.conf",
            ),
        ),
    ),
]


class RefusedForMissingFeature(AssertionError):
    """supgrpcd refused the case by the name of the feature the case needs (expected)."""


def _param(case: Case) -> object:
    marks = []
    if case.needs:
        marks.append(
            pytest.mark.xfail(strict=True, reason=case.needs, raises=RefusedForMissingFeature)
        )
    return pytest.param(case, id=case.name, marks=marks)


@pytest.fixture(scope="module")
def pairs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[tuple[Outcome, Outcome]]]]:
    """Every selected case's (supervisord, supgrpcd) outcomes, a few cases at a time in the
    background: each case spends most of its time waiting for startsecs to pass."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is sys.modules[__name__] and hasattr(item, "callspec")
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {case.name: pool.submit(run_pair, case) for case in selected}


def test_the_table_covers_the_corpus() -> None:
    used = {source for case in CASES for source, _ in case.files}
    assert all((CORPUS / source).is_file() for source in used)
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.conf") if p.is_file()}
    assert on_disk == used
    assert len(CASES) == 26 and len({c.name for c in CASES}) == 26


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_starts_like_supervisord(
    case: Case, pairs: dict[str, Future[tuple[Outcome, Outcome]]]
) -> None:
    theirs, ours = pairs[case.name].result()
    assert theirs.rc is None, f"supervisord itself refused {case.name}: {theirs.summary()}"
    refused_by = FEATURE_NAMES.get(case.needs or "", ())
    if ours.rc is not None and any(name in ours.output for name in refused_by):
        # Expected today: refused by the missing feature's name (anything else fails).
        raise RefusedForMissingFeature(ours.summary())
    assert ours.rc is None, ours.summary()
    assert ours.info == theirs.info
    assert ours.config == theirs.config
    assert ours.status == theirs.status
