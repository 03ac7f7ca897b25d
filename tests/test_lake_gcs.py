"""The lake on GCS, against a GCS emulator over real HTTP (fake-gcs-server, see tests/gcs_emulator.py).

Generated Toast exports are served by the bundled SFTP server and landed by the real landing
asset into `GcsLakeResource`; the warehouse is then loaded from the bucket into DuckDB.
Every expectation (object names, bytes, checksums, row counts) is computed from the served
files with hashlib and the `csv` module, never read from the lake's manifests or the loader.

Two failures cannot happen on their own against an emulator and are INJECTED through the
resource's one test hook, `_open_upload` (the stream an upload sends): a concurrent writer
that replaces the object between our read and our write, and bytes corrupted in transit.
"""

import base64
import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

import dagster as dg
import duckdb
import pytest
from gcs_emulator import FAKE_GCS_SERVER, GcsEmulator
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account
from pipeline_resources import pipeline_resources

from toast_assets.contract import TOAST_FILES, file_for_name
from toast_assets.contract.layout import parse_date_folder
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.gcs_lake import (
    GcsClientResource,
    GcsLakeResource,
    LakeChecksumError,
    LakeConflictError,
    LakeCredentialsError,
)
from toast_assets.landing.lake import LakePathError
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.raw.load import load_raw
from toast_assets.sftp.assets import toast_sftp_files

START = date(2026, 10, 1)
END = START + timedelta(days=2)
BUCKET = "toast-lake-test"
PREFIX = "acme/toast-lake"
KIB = 1024


def gcs_lake(**overrides: object) -> GcsLakeResource:
    return GcsLakeResource(bucket=BUCKET, prefix=PREFIX, gcs=GcsClientResource(project="toast-test"), **overrides)


def served_files(root: Path) -> dict[str, Path]:
    """Expected lake key → served file, from the layout in ARCHITECTURE.md."""
    out = {}
    for location in (p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for folder in location.iterdir():
            business_date = parse_date_folder(folder.name)
            if business_date is None or not folder.is_dir():
                continue
            for path in (p for p in folder.iterdir() if p.is_file()):
                toast_file = file_for_name(path.name)
                entity = toast_file.entity if toast_file else "_unrecognized"
                out[f"toast/{entity}/business_date={business_date.isoformat()}/location={location.name}/{path.name}"] = path
    return out


def source_counts(files: dict[str, Path]) -> Counter:
    """(entity, location, date) → data records (header excluded), counted with `csv`."""
    counts: Counter = Counter()
    for key, path in files.items():
        toast_file = file_for_name(path.name)
        if toast_file is None:
            continue
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            rows = [row for row in csv.reader(handle) if row]
        counts[(toast_file.entity, path.parent.parent.name, parse_date_folder(path.parent.name))] = max(len(rows) - 1, 0)
    return counts


def warehouse_counts(db: Path) -> tuple[Counter, Counter]:
    loaded: Counter = Counter()
    quarantined: Counter = Counter()
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            for location, business_date, n in conn.execute(
                f"SELECT _location_id, _business_date, count(*) FROM toast_raw.{toast_file.entity} GROUP BY 1, 2"
            ).fetchall():
                loaded[(toast_file.entity, location, business_date)] = n
        for entity, location, business_date, n in conn.execute(
            "SELECT entity, location_id, business_date, count(DISTINCT row_number) FROM toast_raw.quarantine GROUP BY 1, 2, 3"
        ).fetchall():
            quarantined[(entity, location, business_date)] = n
    return loaded, quarantined


def bucket_objects(emulator: GcsEmulator) -> dict[str, int]:
    """Every object in the bucket → its generation (a new generation = a new write)."""
    return {blob.name: blob.generation for blob in emulator.client().list_blobs(BUCKET)}


def md5_b64(payload: bytes) -> str:
    return base64.b64encode(hashlib.md5(payload, usedforsecurity=False).digest()).decode()


def land_range(resources: dict, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [*toast_sftp_files, toast_landing],
        resources=resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": END.isoformat()},
    )
    assert result.success
    return result


def files_downloaded(instance: dg.DagsterInstance) -> int:
    event = instance.get_latest_materialization_event(dg.AssetKey(["toast_landing", "order_details"]))
    return event.asset_materialization.metadata["files_downloaded"].value


def test_land_reland_redeliver_and_load_from_gcs(gcs_emulator: GcsEmulator, make_sftp_server, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    generate(exports, START, END, locations=2, seed=5, orders_per_day=(15, 30))
    served = served_files(exports)
    assert len(served) > 40
    gcs_emulator.create_bucket(BUCKET)
    # A small page size, so every listing of the lake crosses several pages of the emulator.
    lake = gcs_lake(list_page_size=7, local_dir=str(tmp_path / "lake-scratch"))
    _, settings = make_sftp_server(exports)
    resources = {**pipeline_resources(settings, tmp_path), "lake": lake}
    instance = dg.DagsterInstance.ephemeral()

    # Land the range: every served file, untouched, under the prefix, with its checksum.
    land_range(resources, instance)
    objects = bucket_objects(gcs_emulator)
    assert all(name.startswith(f"{PREFIX}/") for name in objects)
    manifest_keys = {
        f"toast/_manifests/business_date={parse_date_folder(p.parent.name).isoformat()}/location={p.parent.parent.name}.json"
        for p in served.values()
    }
    assert {name.removeprefix(f"{PREFIX}/") for name in objects} == set(served) | manifest_keys
    assert set(lake.list_keys("toast")) == set(served) | manifest_keys
    assert lake.list_keys("toast/_manifests/") == sorted(manifest_keys)
    assert lake.list_keys("toast/order_details/business_date=2099-01-01") == []
    bucket = gcs_emulator.client().bucket(BUCKET)
    for key, path in served.items():
        source = path.read_bytes()
        blob = bucket.get_blob(f"{PREFIX}/{key}")
        assert blob.download_as_bytes() == source, key
        assert blob.md5_hash == md5_b64(source), key
        assert lake.sha256(key) == hashlib.sha256(source).hexdigest() == blob.metadata["sha256"], key
        assert lake.get_bytes(key) == source, key
    manifests_before = {key: lake.get_bytes(key) for key in manifest_keys}

    # Re-land: nothing is uploaded again, not even a manifest.
    land_range(resources, instance)
    assert bucket_objects(gcs_emulator) == objects
    assert {key: lake.get_bytes(key) for key in manifest_keys} == manifests_before
    assert files_downloaded(instance) == 0

    # A corrected re-delivery of one file: the new bytes replace the object, the old ones are kept.
    changed_key = next(k for k in sorted(served) if k.startswith(f"toast/order_details/business_date={START + timedelta(days=1)}"))
    changed = served[changed_key]
    old = changed.read_bytes()
    bom = old.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(old.decode("utf-8-sig"), newline="")))
    rows[1][rows[0].index("Total")] = "999.99"
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows(rows)
    changed.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode("utf-8"))
    os.utime(changed, (2_000_000_000, 2_000_000_000))
    new = changed.read_bytes()
    assert new != old
    land_range(resources, instance)
    after = bucket_objects(gcs_emulator)
    version = f"{PREFIX}/_versions/{changed_key}/{hashlib.sha256(old).hexdigest()}"
    changed_manifest = next(k for k in manifest_keys if changed.parent.parent.name in k and str(START + timedelta(days=1)) in k)
    assert set(after) == set(objects) | {version}
    assert {n for n in objects if after[n] != objects[n]} == {f"{PREFIX}/{changed_key}", f"{PREFIX}/{changed_manifest}"}
    assert lake.get_bytes(changed_key) == new and lake.sha256(changed_key) == hashlib.sha256(new).hexdigest()
    assert bucket.blob(version).download_as_bytes() == old
    entry = json.loads(lake.get_bytes(changed_manifest))["files"][changed.name]
    assert (entry["sha256"], entry["size"]) == (hashlib.sha256(new).hexdigest(), len(new))

    # The downloads for a CSV reader are the lake's bytes and are removed afterwards.
    with lake.local_paths([changed_key]) as paths:
        local = Path(paths[changed_key])
        assert local.read_bytes() == new
    assert not local.exists()

    # Load the warehouse from the bucket: every served record is loaded or quarantined, once.
    db = tmp_path / "toast.duckdb"
    dates = [START + timedelta(days=n) for n in range((END - START).days + 1)]
    load_raw(lake, DuckDBWarehouseResource(database=str(db)), dates, [f.entity for f in TOAST_FILES])
    assert list((tmp_path / "lake-scratch").iterdir()) == [], "staged uploads and downloads are cleaned up"
    expected = source_counts(served)
    loaded, quarantined = warehouse_counts(db)
    assert len({k[1] for k in expected}) == 2 and {k[2] for k in expected} == set(dates)
    for key, rows in expected.items():
        assert loaded[key] + quarantined[key] == rows, key
    assert set(k for k, v in loaded.items() if v) <= set(expected)
    assert sum(quarantined.values()) == 0  # the generator writes no broken rows
    with duckdb.connect(str(db), read_only=True) as conn:
        location, business_date = changed.parent.parent.name, parse_date_folder(changed.parent.name)
        corrected = conn.execute(
            "SELECT count(*) FROM toast_raw.order_details WHERE total = '999.99' AND _location_id = ? AND _business_date = ?",
            [location, business_date],
        ).fetchone()[0]
    assert corrected == 1, "the warehouse was loaded from the corrected object"


def test_large_files_go_up_in_resumable_chunks_with_a_generation_precondition(gcs_emulator: GcsEmulator, tmp_path: Path) -> None:
    if gcs_emulator.kind != FAKE_GCS_SERVER:
        pytest.skip("reads fake-gcs-server's request log")
    gcs_emulator.create_bucket(BUCKET)
    lake = gcs_lake(resumable_threshold_bytes=256 * KIB, chunk_size_bytes=256 * KIB)
    key = "toast/item_selection_details/business_date=2026-10-01/location=185129/ItemSelectionDetails.csv"
    name = f"{PREFIX}/{key}"
    first = b"Item,Qty\n" + b"".join(b"item %07d,1\n" % n for n in range(80_000))  # about 1.1 MiB
    second = first.replace(b",1\n", b",2\n")

    def commit(payload: bytes) -> None:
        with lake.staging_file() as staged:
            staged.write_bytes(payload)
            lake.commit(staged, key, hashlib.sha256(payload).hexdigest())
        assert not staged.exists()

    commit(first)
    generation = gcs_emulator.client().bucket(BUCKET).get_blob(name).generation
    commit(second)
    log = gcs_emulator.requests()
    encoded = re.escape(name.replace("/", "%2F"))
    starts = [line for line in log if "POST /upload/storage/v1/b/toast-lake-test/o?uploadType=resumable" in line]
    chunks = [line for line in log if re.search(rf"PUT /upload/storage/v1/b/toast-lake-test/o\?uploadType=resumable&name={encoded}&", line)]
    assert len(starts) == 2
    assert "ifGenerationMatch=0 " in starts[0] and f"ifGenerationMatch={generation} " in starts[1]
    assert len(chunks) == 2 * -(-len(first) // (256 * KIB)), "one PUT per 256 KiB chunk"
    assert not any("uploadType=multipart" in line for line in log)
    assert lake.get_bytes(key) == second and lake.sha256(key) == hashlib.sha256(second).hexdigest()
    assert lake.get_bytes(f"_versions/{key}/{hashlib.sha256(first).hexdigest()}") == first

    # Committing the same bytes again uploads nothing.
    before = len(gcs_emulator.requests())
    commit(second)
    assert not any("/upload/" in line for line in gcs_emulator.requests()[before:])


class _InjectingLake(GcsLakeResource):
    """TEST-ONLY: `_open_upload` is where the injected fault happens (see the module docstring)."""

    fault: str  # "intruder": another writer replaces the object first; "corrupt": one byte flips in transit

    @contextmanager
    def _open_upload(self, staged: Path) -> Iterator[BinaryIO]:
        payload = staged.read_bytes()
        if self.fault == "intruder":
            self._bucket().blob(self._name(INJECTED_KEY)).upload_from_string(b"written by another run\n")
            yield io.BytesIO(payload)
        else:
            yield io.BytesIO(payload[:-2] + bytes([payload[-2] ^ 0x01]) + payload[-1:])


INJECTED_KEY = "toast/order_details/business_date=2026-10-01/location=185129/OrderDetails.csv"


def _commit(lake: GcsLakeResource, payload: bytes) -> None:
    with lake.staging_file() as staged:
        staged.write_bytes(payload)
        lake.commit(staged, INJECTED_KEY, hashlib.sha256(payload).hexdigest())


@pytest.mark.parametrize("existing", [False, True], ids=["new-object", "overwrite"])
def test_precondition_refuses_a_concurrent_writer(gcs_emulator: GcsEmulator, existing: bool) -> None:
    """INJECTED: another run writes the object between our read and our upload."""
    if not gcs_emulator.enforces_preconditions:
        pytest.skip(f"{gcs_emulator.kind} does not enforce ifGenerationMatch")
    gcs_emulator.create_bucket(BUCKET)
    if existing:
        _commit(gcs_lake(), b"Order Id\n1\n")
    with pytest.raises(LakeConflictError, match="written by someone else"):
        _commit(_InjectingLake(bucket=BUCKET, prefix=PREFIX, gcs=GcsClientResource(), fault="intruder"), b"Order Id\n2\n")
    assert gcs_lake().get_bytes(INJECTED_KEY) == b"written by another run\n", "the other writer's object survives"


@pytest.mark.parametrize("size", [200, 600 * KIB], ids=["multipart", "resumable"])
@pytest.mark.parametrize("existing", [False, True], ids=["new-object", "overwrite"])
def test_checksum_mismatch_is_detected_and_undone(gcs_emulator: GcsEmulator, existing: bool, size: int) -> None:
    """INJECTED: the upload stream differs from the staged file by one byte."""
    gcs_emulator.create_bucket(BUCKET)
    good = b"Order Id\n" + b"1\n" * 4
    if existing:
        _commit(gcs_lake(), good)
    payload = b"Order Id\n" + b"7" * (size - 11) + b"\n"
    corrupting = _InjectingLake(
        bucket=BUCKET, prefix=PREFIX, gcs=GcsClientResource(), fault="corrupt",
        resumable_threshold_bytes=256 * KIB, chunk_size_bytes=256 * KIB,
    )  # fmt: skip
    with pytest.raises(LakeChecksumError, match="does not match the staged file"):
        _commit(corrupting, payload)
    lake = gcs_lake()
    if existing:
        assert lake.get_bytes(INJECTED_KEY) == good and lake.sha256(INJECTED_KEY) == hashlib.sha256(good).hexdigest()
    else:
        assert lake.get_bytes(INJECTED_KEY) is None and lake.sha256(INJECTED_KEY) is None

    # A staged file that is not what the caller hashed is refused before anything is sent.
    with lake.staging_file() as staged:
        staged.write_bytes(payload)
        with pytest.raises(LakeChecksumError, match="changed before upload"):
            lake.commit(staged, INJECTED_KEY, hashlib.sha256(b"something else").hexdigest())


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside", "toast/../../outside", "toast//x.csv", "toast/./x.csv", "toast\\x.csv",
     "toast/x\x00.csv", "toast/x\n.csv", "toast/" + "x" * 1100],
)  # fmt: skip
def test_keys_that_escape_or_are_not_object_names_are_refused(gcs_emulator: GcsEmulator, key: str, tmp_path: Path) -> None:
    gcs_emulator.create_bucket(BUCKET)
    lake = gcs_lake()
    staged = tmp_path / "staged"
    staged.write_bytes(b"x")
    for call in (
        lambda: lake.commit(staged, key, hashlib.sha256(b"x").hexdigest()),
        lambda: lake.put_bytes(key, b"x"),
        lambda: lake.get_bytes(key),
        lambda: lake.sha256(key),
    ):
        with pytest.raises(LakePathError):
            call()
    if key:
        with pytest.raises(LakePathError):
            lake.list_keys(key)
        with pytest.raises(LakePathError), lake.local_paths([key]):
            pass
    assert bucket_objects(gcs_emulator) == {}


def test_credentials_key_file_application_default_and_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keyfile = tmp_path / "sa.json"
    keyfile.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-data", "private_key_id": "1", "private_key": pem.decode(),
        "client_email": "toast-pipeline@acme-data.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))  # fmt: skip
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # never the developer's own login

    # A service-account key file (TOAST_GCP_KEYFILE).
    client = GcsClientResource(service_account_key_path=str(keyfile)).get_client()
    assert isinstance(client._credentials, service_account.Credentials)
    assert client._credentials.service_account_email == "toast-pipeline@acme-data.iam.gserviceaccount.com"
    assert client.project == "acme-data"

    # Application Default Credentials, here through GOOGLE_APPLICATION_CREDENTIALS.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(keyfile))
    client = GcsClientResource(project="other-project").get_client()
    assert client._credentials.service_account_email == "toast-pipeline@acme-data.iam.gserviceaccount.com"
    assert client.project == "other-project"

    # An emulator gets anonymous credentials, even with a key file configured.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    client = GcsClientResource(service_account_key_path=str(keyfile)).get_client()
    assert isinstance(client._credentials, AnonymousCredentials)

    # No credentials at all: the lake says what to set.
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(*args: object, **kwargs: object) -> None:
        raise DefaultCredentialsError("no ADC")

    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(LakeCredentialsError, match="TOAST_GCP_KEYFILE"):
        gcs_lake().get_bytes("toast/x.csv")
