"""Quality records (ISO 13485 7.5.8-7.5.9, 8.3, 8.5): inspections, nonconformances, CAPAs,
change orders, deviations and certificates, each attached to node keys of the genealogy.

A file (CSV or Parquet) has one row per (record version, node key):

    record_id, record_type, key, status, opened_at, title            required
    closed_at, result, disposition, capa_id, effective_from,         optional
    products, inspector, measurements

Rows with the same record_id and status are one version attached to every key they name
(the other fields must agree); a later status of the same record in the same file is a new
version. What a record type allows:

    type            statuses, in the order they move             also
    inspection      planned, done                                 result pass|fail when done
    nonconformance  open, investigating, dispositioned, closed    disposition when dispositioned
                                                                  or closed
    capa            open, investigating, implementing, verifying,
                    closed                                        capa_id: the NCs it answers
    change_order    draft, approved, effective, closed            effective_from, products
    deviation       open, approved, closed
    certificate     received, accepted | rejected                 (supplier CoA/CoC)

A status only moves forward (a step back is a correction: the two-person path; restating a
version the record has kept is no step back); times
are ISO 8601 (naive: UTC), never in the future; `products` is ';'-separated; `measurements`
is JSON or text. Every problem is a reject naming file, row, field and reason, with the row.
Node keys are checked by the store (index.quality_records), which knows the genealogy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from domain.errors import InvalidInput
from trust.canonical import SAFE_INTEGER, canonical_bytes

__all__ = ["CONTENT", "DISPOSITIONS", "OPTIONAL", "REQUIRED", "STATUSES", "TYPES", "RecordVersion",
           "RecordVersions", "check_row", "read_quality_files", "read_quality_frames",
           "status_rank"]

STATUSES: Final[dict[str, tuple[str | tuple[str, ...], ...]]] = {
    "inspection": ("planned", "done"),
    "nonconformance": ("open", "investigating", "dispositioned", "closed"),
    "capa": ("open", "investigating", "implementing", "verifying", "closed"),
    "change_order": ("draft", "approved", "effective", "closed"),
    "deviation": ("open", "approved", "closed"),
    "certificate": ("received", ("accepted", "rejected")),
}
"""Each record type's statuses in the order a record moves through them (a tuple: one
step, several possible outcomes)."""
TYPES: Final = tuple(STATUSES)
DISPOSITIONS: Final = ("use-as-is", "rework", "scrap", "return")
RESULTS: Final = ("pass", "fail")
REQUIRED: Final = ("record_id", "record_type", "key", "status", "opened_at", "title")
OPTIONAL: Final = ("closed_at", "result", "disposition", "capa_id", "effective_from",
                   "products", "inspector", "measurements")
TIMES: Final = ("opened_at", "closed_at", "effective_from")
FUTURE_SLACK: Final = timedelta(minutes=5)


def status_rank(record_type: str, status: str) -> int:
    """The step of `status` in its type's order; -1 when the type does not have it."""
    for rank, step in enumerate(STATUSES.get(record_type, ())):
        if status == step or (isinstance(step, tuple) and status in step):
            return rank
    return -1


def _all_statuses(record_type: str) -> list[str]:
    out: list[str] = []
    for step in STATUSES[record_type]:
        out += list(step) if isinstance(step, tuple) else [step]
    return out


@dataclass(frozen=True)
class RecordVersion:
    """One version of a quality record as read: its fields (times as ISO 8601 UTC text) and
    the node keys it attaches to; where it came from (file, first row)."""

    record_id: str
    record_type: str
    status: str
    fields: dict[str, Any]
    keys: tuple[str, ...]  # one per row that named the version, in row order
    file: str
    row: int
    rows: tuple[int, ...] = field(default=())  # beside keys

    def content(self) -> dict[str, Any]:
        """What the store keeps and compares: every field and the sorted keys."""
        return {"record_id": self.record_id, "record_type": self.record_type,
                "status": self.status, **self.fields, "keys": sorted(set(self.keys))}


def _time(value: str, now: datetime) -> tuple[str | None, str | None]:
    """(ISO 8601 UTC text, problem)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{value!r} is not an ISO 8601 time"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed > now + FUTURE_SLACK:
        return None, f"{value} is in the future"
    return parsed.isoformat().replace("+00:00", "Z"), None


def _whole(text: str) -> int | str:
    """A JSON integer as an int in the canonical range (trust.canonical), else its text."""
    value = int(text)
    return value if abs(value) <= SAFE_INTEGER else text


def measurement(text: str) -> Any:
    """A measurements field as kept: its JSON with numbers other than safe integers as their
    text as written ("4.50" stays "4.50": no float rounding in a record, and canonical JSON
    has no floats), or the text itself when it is not JSON."""
    try:
        return json.loads(text, parse_float=str, parse_int=_whole, parse_constant=str)
    except ValueError:
        return text


def check_row(row: dict[str, str], now: datetime) -> tuple[dict[str, Any], str, str]:
    """(fields, problem field, problem) of one row; the problem is "" when there is none."""
    for name in REQUIRED:
        if not row.get(name, "").strip():
            return {}, name, f"{name} is empty"
    record_type = row["record_type"].strip()
    if record_type not in STATUSES:
        return {}, "record_type", (f"{record_type!r} is not a record type: one of "
                                   f"{', '.join(TYPES)}")
    status = row["status"].strip()
    if status_rank(record_type, status) < 0:
        return {}, "status", (f"{status!r} is not a status of a {record_type}: one of "
                              f"{', '.join(_all_statuses(record_type))}")
    fields: dict[str, Any] = {"title": row["title"].strip()}
    for name in TIMES:
        text = row.get(name, "").strip()
        if text:
            value, problem = _time(text, now)
            if problem:
                return {}, name, problem
            fields[name] = value
    for name in ("result", "disposition", "capa_id", "inspector"):
        text = row.get(name, "").strip()
        if text:
            fields[name] = text
    if "result" in fields and fields["result"] not in RESULTS:
        return {}, "result", f"{fields['result']!r} is not pass or fail"
    if record_type == "inspection" and status == "done" and "result" not in fields:
        return {}, "result", "a done inspection needs a result (pass or fail)"
    if "disposition" in fields and fields["disposition"] not in DISPOSITIONS:
        return {}, "disposition", (f"{fields['disposition']!r} is not a disposition: one of "
                                   f"{', '.join(DISPOSITIONS)}")
    if (record_type == "nonconformance" and status in ("dispositioned", "closed")
            and "disposition" not in fields):
        return {}, "disposition", f"a {status} nonconformance needs a disposition"
    if record_type == "change_order" and status in ("effective", "closed") and (
            "effective_from" not in fields):
        return {}, "effective_from", f"an {status} change order needs effective_from"
    products = [p.strip() for p in row.get("products", "").split(";") if p.strip()]
    if products:
        fields["products"] = sorted(set(products))
    text = row.get("measurements", "").strip()
    if text:
        fields["measurements"] = measurement(text)
    if "closed_at" in fields and fields["closed_at"] < fields["opened_at"]:
        return {}, "closed_at", "closed_at is before opened_at"
    return fields, "", ""


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            return frame.select(pl.all().cast(pl.String))
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InvalidInput(f"{path}: not a readable CSV or Parquet file ({e})") from None


# Python's str.isspace() characters: what str.strip() removes, so the bulk reader strips
# exactly what the row check (check_row) does (Rust's trim keeps \x1c-\x1f).
_SPACE: Final = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
                 "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_PLAIN_TIME: Final = r"^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
_FIELDS: Final = ("title", *TIMES, "result", "disposition", "capa_id", "inspector")
CONTENT: Final = ("record_type", *_FIELDS, "products", "measurements")
"""What a version holds besides its record id, status and keys (two rows agree on these)."""
VERSION_COLUMNS: Final = ("record_id", "record_type", "status", "rank", *_FIELDS,
                          "products", "measurements", "keys", "file", "row", "rows")


class RecordVersions:
    """Record versions as read, one row each, ordered by record id then status order: the
    columns VERSION_COLUMNS (fields null when absent, products a sorted list, measurements
    their canonical JSON, keys sorted without repeats, rows every row that named it).
    Iterating gives RecordVersion objects (for the few that need one at a time)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return self.frame.height

    def __iter__(self) -> Iterator[RecordVersion]:
        for row in self.frame.iter_rows(named=True):
            yield version_of(row)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordVersions) and self.frame.equals(other.frame)

    __hash__ = None  # type: ignore[assignment]


def version_of(row: dict[str, Any]) -> RecordVersion:
    """The RecordVersion of one row of a RecordVersions frame."""
    fields = {name: row[name] for name in _FIELDS if row[name] is not None}
    if row["products"]:
        fields["products"] = list(row["products"])
    if row["measurements"] is not None:
        fields["measurements"] = json.loads(row["measurements"])
    return RecordVersion(row["record_id"], row["record_type"], row["status"], fields,
                         tuple(row["keys"]), row["file"], row["row"], tuple(row["rows"]))


def read_quality_files(paths: Sequence[Path], now: datetime | None = None,
                       ) -> tuple[RecordVersions, list[dict[str, Any]]]:
    """The record versions of `paths` and the rejected rows (dicts with file, row, table,
    field, reason and the row as JSON), in file and row order. A file whose columns lack a
    required one is an error naming them."""
    return read_quality_frames([(str(path), _read(path)) for path in paths], now)


def read_quality_frames(frames: Sequence[tuple[str, pl.DataFrame]],
                        now: datetime | None = None,
                        ) -> tuple[RecordVersions, list[dict[str, Any]]]:
    """read_quality_files over tables already read: (name, frame) each, the frame in the
    file format; a frame with source_file and source_row columns (a QMS export through a
    mapping, loaders.erp) names those in its rejects.

    Checked as columns (a million rows in seconds); the reason of a bad row comes from
    check_row, the one definition of a good row, which the columns must agree with (the
    tests hold them to it on generated rows)."""
    now = now or datetime.now(UTC)
    good: list[pl.DataFrame] = []
    rejects: list[tuple[int, int, dict[str, Any]]] = []  # (part, position, reject)
    raws: list[pl.DataFrame] = []
    for part, (name, given) in enumerate(frames):
        missing = [c for c in REQUIRED if c not in given.columns]
        if missing:
            raise InvalidInput(f"{name}: needs column(s) {', '.join(missing)} (a quality "
                               f"record file has {', '.join(REQUIRED)} and may have "
                               f"{', '.join(OPTIONAL)})")
        origin = {"source_file", "source_row"} <= set(given.columns)
        raw = given.drop("source_file", "source_row") if origin else given
        raws.append(raw)
        where = (given.select(pl.col("source_file").cast(pl.String).alias("file"),
                              pl.col("source_row").cast(pl.Int64).alias("row"))
                 if origin else pl.DataFrame({
                     "file": pl.repeat(name, given.height, dtype=pl.String, eager=True),
                     "row": pl.int_range(2, given.height + 2, dtype=pl.Int64, eager=True)}))
        checked = _checked(raw, now).with_columns(
            where.to_series(0), where.to_series(1), pl.lit(part).alias("part"))
        bad = checked.filter(~pl.col("ok"))
        for (pos, file, number), row in zip(
                bad.select("pos", "file", "row").iter_rows(),
                raw[bad["pos"].to_list()].iter_rows(named=True), strict=True):
            text = {k: "" if v is None else str(v) for k, v in row.items()}
            _, field_name, problem = check_row(text, now)
            if not problem:
                raise AssertionError(f"internal: {file} row {number} failed the column "
                                     "checks but passes check_row")
            rejects.append((part, pos, {
                "file": file, "row": number, "table": "quality", "field": field_name,
                "reason": problem, "record": json.dumps(row, ensure_ascii=False)}))
        good.append(checked.filter(pl.col("ok")).drop("ok"))
    table = pl.concat(good) if good else _checked(pl.DataFrame(
        schema=dict.fromkeys(REQUIRED, pl.String)), now).drop("ok").with_columns(
        pl.lit(None, pl.String).alias("file"), pl.lit(None, pl.Int64).alias("row"),
        pl.lit(0).alias("part"))
    versions, conflicts = _versions(table)
    for part, pos, rid, status, file, number, first_file, first_row in conflicts.iter_rows():
        row = raws[part].row(pos, named=True)
        rejects.append((part, pos, {
            "file": file, "row": number, "table": "quality", "field": "record_id",
            "reason": f"record {rid} ({status}) was given other content in {first_file} "
                      f"row {first_row}",
            "record": json.dumps(row, ensure_ascii=False)}))
    rejects.sort(key=lambda r: (r[0], r[1]))
    return versions, [r for _, _, r in rejects]


def _checked(raw: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """`raw` checked as check_row checks one row: pos (its position), ok, the stripped
    record_id, record_type, status, key, rank, and the fields as kept (times in ISO 8601
    UTC text, products a sorted list, measurements canonical JSON), null when absent."""
    def text(name: str) -> pl.Expr:
        if name not in raw.columns:
            return pl.lit(None, pl.String).alias(name)
        value = pl.col(name).cast(pl.String).str.strip_chars(_SPACE)
        return pl.when(value == "").then(None).otherwise(value).alias(name)

    table = raw.with_row_index("pos").select(
        pl.col("pos").cast(pl.Int64), *(text(c) for c in REQUIRED + OPTIONAL),
        products_list=pl.col("products").cast(pl.String).str.split(";")
        .list.eval(pl.element().str.strip_chars(_SPACE))
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.eval(pl.element().unique().sort())  # list.sort() is 50x slower (polars 1.x)
        if "products" in raw.columns
        else pl.lit(None, pl.List(pl.String)))
    steps = pl.DataFrame(
        [(kind, status, rank) for kind in TYPES for status in _all_statuses(kind)
         for rank in [status_rank(kind, status)]],
        schema={"record_type": pl.String, "status": pl.String, "rank": pl.Int64},
        orient="row")
    table = table.join(steps, on=["record_type", "status"], how="left",
                       maintain_order="left")
    problems = [pl.col(c).is_null() for c in REQUIRED] + [pl.col("rank").is_null()]
    for name in TIMES:
        table = _times(table, name, now)
        problems.append(pl.col(f"{name}_problem"))
    kind, status = pl.col("record_type"), pl.col("status")
    problems += [
        pl.col("result").is_not_null() & ~pl.col("result").is_in(RESULTS),
        (kind == "inspection") & (status == "done") & pl.col("result").is_null(),
        pl.col("disposition").is_not_null() & ~pl.col("disposition").is_in(DISPOSITIONS),
        (kind == "nonconformance") & status.is_in(("dispositioned", "closed"))
        & pl.col("disposition").is_null(),
        (kind == "change_order") & status.is_in(("effective", "closed"))
        & pl.col("effective_from").is_null(),
        pl.col("closed_at").is_not_null() & (pl.col("closed_at") < pl.col("opened_at"))]
    measured = table["measurements"].drop_nulls().unique().to_list()
    encoded = pl.DataFrame({"measurements": measured, "measured": [
        canonical_bytes(measurement(m)).decode() for m in measured]},
        schema={"measurements": pl.String, "measured": pl.String})
    table = table.join(encoded, on="measurements", how="left", maintain_order="left")
    return table.select(
        "pos", "record_id", "record_type", "status", "rank", "key", *_FIELDS,
        pl.when(pl.col("products_list").list.len() > 0).then(pl.col("products_list"))
        .otherwise(None).cast(pl.List(pl.String)).alias("products"),
        pl.col("measured").alias("measurements"),
        ok=~pl.any_horizontal(*(p.fill_null(False) for p in problems)))


def _times(table: pl.DataFrame, name: str, now: datetime) -> pl.DataFrame:
    """Column `name` as ISO 8601 UTC text, and `<name>_problem` (true where it is not a
    time or is in the future). The usual form (2025-01-01T08:00:00Z) is checked as a column;
    any other spelling by datetime.fromisoformat, once per distinct value."""
    values = table[name].drop_nulls().unique()
    fast = pl.DataFrame({"value": values}).with_columns(
        parsed=pl.col("value").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%SZ",
                                            strict=False))
    fast = fast.filter(pl.col("value").str.contains(_PLAIN_TIME)
                       & (pl.col("parsed").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                          == pl.col("value")))
    limit = now + FUTURE_SLACK
    slow = values.filter(~values.is_in(fast["value"].implode())).to_list()
    answers = [_time(value, now) for value in slow]
    mapping = pl.concat([
        fast.select("value", canonical=pl.col("value"), problem=pl.col("parsed") > limit),
        pl.DataFrame({"value": slow, "canonical": [a for a, _ in answers],
                      "problem": [p is not None for _, p in answers]},
                     schema={"value": pl.String, "canonical": pl.String,
                             "problem": pl.Boolean})])
    return (table.join(mapping, left_on=name, right_on="value", how="left",
                       maintain_order="left")
            .with_columns(pl.col("canonical").alias(name),
                          pl.col("problem").alias(f"{name}_problem"))
            .drop("canonical", "problem"))


def _versions(table: pl.DataFrame) -> tuple[RecordVersions, pl.DataFrame]:
    """(the versions of the good rows of every part, the rows that repeat a version with
    other content: part, pos, record_id, status, file, row, and the first row's file and
    row). Rows with the same record id and status are one version when they agree."""
    table = table.sort("part", "pos")
    group = ["record_id", "status"]
    content = list(CONTENT)
    # Only rows that share a version can disagree with its first row: compare those alone.
    shared = pl.struct(group).is_duplicated()
    repeated = table.filter(shared)
    differs = pl.any_horizontal(*(pl.col(c).ne_missing(pl.col(c).first().over(group))
                                  for c in content))
    repeated = repeated.with_columns(differs.alias("differs"),
                                     pl.col("file").first().over(group).alias("first_file"),
                                     pl.col("row").first().over(group).alias("first_row"))
    table = pl.concat([table.filter(~shared).with_columns(
        differs=pl.lit(False), first_file=pl.col("file"), first_row=pl.col("row")),
        repeated]).sort("part", "pos")
    conflicts = table.filter("differs").select("part", "pos", "record_id", "status", "file",
                                               "row", "first_file", "first_row")
    versions = (table.filter(~pl.col("differs"))
                .group_by(group, maintain_order=True)
                .agg(*(pl.col(c).first() for c in ("rank", *content, "file", "row")),
                     pl.col("key").alias("keys"), pl.col("row").alias("rows"))
                .sort("record_id", "rank", maintain_order=True)
                .select(VERSION_COLUMNS))
    return RecordVersions(versions), conflicts
