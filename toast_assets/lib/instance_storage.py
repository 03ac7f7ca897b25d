"""Dagster event log storages that keep their database connection open between events.

A daily run writes about 530 events. Dagster's own SQLite and PostgreSQL event log storages
open a new connection for every event (SQLAlchemy's NullPool, so that idle processes hold
none): on SQLite a new engine, file open and close per event; on PostgreSQL a new TCP
connection and authentication per event. Measured on this project's daily job for a date
without files, that was 12 s of a run's 22 s on SQLite and 17 s of 27 s on PostgreSQL;
with one kept connection, 5 s and 6 s (README, "Performance").

The classes below change only how connections are held: the same tables, the same writes,
the same transactions, one connection kept per process (per SQLite database file). The
webserver already does this for PostgreSQL (`optimize_for_webserver`); these do it for the
run workers and the daemon too. The embedded default's `dagster.yaml` names
`PooledSqliteInstance` (whose default storage uses the SQLite one, in the instance's own
folder); production's `deploy/dagster.yaml` names `PooledPostgresEventLogStorage` as its
`event_log_storage`.
"""

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# SQLite: the index database plus the run databases most recently written or read. A run
# writes its own file and the index; the webserver and the daemon read many runs' files,
# so older engines are closed instead of accumulating.
KEPT_SQLITE_DATABASES = 4
SQLITE_MAX_OVERFLOW = 4
# PostgreSQL: one connection kept; more open only while used at the same time, then close.
PG_POOL_SIZE = 1
PG_MAX_OVERFLOW = 8
PG_POOL_RECYCLE_SECONDS = 3600


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log storage (one database per run plus an index database, in
    `base_dir`), with each database's connection kept open between events instead of
    reopened per event."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def _engine_for(self, shard: str) -> sa.Engine:
        if self._engines_pid != os.getpid():
            # A forked child must not use the parent's open connections.
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=sa.pool.QueuePool,
            pool_size=1,
            # Creating a database inspects it on a second connection; extra ones close after use.
            max_overflow=SQLITE_MAX_OVERFLOW,
            # Every use is under the storage's lock, but the lock's holder may be any thread.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine
        while len(self._engines) > KEPT_SQLITE_DATABASES + 1:  # + the index database
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        # As Dagster's `_connect`: one user at a time, the database created on first use,
        # one transaction per use; only the engine outlives the call.
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
        super().dispose()


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres' event log storage with one connection kept open per process (plus
    short-lived extra ones while several threads write at once), checked before each use so
    a restarted database server costs a reconnect, not a failed run.

    Config: exactly dagster-postgres' `postgres_db` / `postgres_url` settings.
    """

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self._engine_pid = os.getpid()
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        unpooled = self._engine
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_recycle=PG_POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
        )
        unpooled.dispose()

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        if self._engine_pid != os.getpid():
            # A forked child must not use the parent's open connection.
            self._engine.dispose(close=False)
            self._engine_pid = os.getpid()
        return super()._connect()

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledPostgresEventLogStorage":
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event log, schedules under one folder, laid out as by
    default) with the event log's connections kept open (`PooledSqliteEventLogStorage`)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Dagster's own constructor builds its event log storage first (it creates the index
        # database if missing, and opens nothing after that); it is replaced, unused.
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteStorage":
        return cls.from_local(inst_data=inst_data, **config_value)


class PooledSqliteInstance(DagsterInstance):
    """The embedded default's instance (`instance_class` in dagster.yaml): Dagster's own, whose
    default storage is `PooledSqliteStorage` in the instance's folder instead of Dagster's
    SQLite storage. Only defaults change: a `storage:` block in dagster.yaml still wins.

    The storage's folder has to be the instance's (DagsterInstance.from_config(folder) as well
    as $DAGSTER_HOME), and only the instance's defaults are given that folder.
    """

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        module = __name__
        defaults["storage"] = ConfigurableClassData(module, "PooledSqliteStorage", yaml.dump({"base_dir": base_dir}))
        events = yaml.dump({"base_dir": _event_logs_directory(base_dir)})
        defaults["event_log_storage"] = ConfigurableClassData(module, "PooledSqliteEventLogStorage", events)
        return defaults
