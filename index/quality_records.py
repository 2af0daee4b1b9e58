"""Quality records in the store (loaders.quality_records says what they hold): versioned rows
keyed by record id, and a node -> records index.

    quality        record id + NUL + u32 version -> canonical JSON of that version (its
                   fields, node keys, version, who recorded it from which source, when)
    quality_nodes  node key + NUL + record id -> b"" (every key any version attached), and
                   0x01 + record type + NUL + record id -> b"" (records by type: a node key
                   never starts with a control character)
    quality_columns  the versions of each write again as one Arrow table: what `frame`
                   reads (index.quality_columns)

Nothing is overwritten: a status change is a new version, and each version is written with its
audit record in one synced write. A version that repeats one the record has kept writes
nothing (an import run twice adds nothing, nor an export of each record's whole history sent
again); a status that moves backwards, or other content at the same status, is refused here
and needs a correction (the two-person path), so the file's row is kept as a reject with
that reason.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from domain.errors import InvalidInput
from index.quality_columns import (
    COLUMNS,
    WHOLE,
    column_rows,
    columns_put,
    decoded,
    kept_time,
    make_whole,
    newest,
    rows_table,
)
from loaders.quality_records import (
    CONTENT,
    OPTIONAL,
    RecordVersion,
    RecordVersions,
    check_row,
    status_rank,
)
from trust.audit import AuditEvent, encode_events, iso_ms
from trust.canonical import canonical_bytes
from trust.identity import Principal, Records

__all__ = ["COLUMNS", "QualityRecords", "QualityReport", "UnknownKeys"]

BATCH = 50_000  # versions per synced write (some 30 MB)
_PUTTING = threading.Lock()  # one put at a time in this process (one process writes a store)
_MANY = 1_000  # versions to check one at a time before reading the kept ones as columns
_U32 = struct.Struct(">I")
UnknownKeys = Callable[[Sequence[str]], dict[str, list[str]]]
"""keys -> {unknown key: suggestions}: how the caller's genealogy answers "is this a node?"."""


@dataclass
class QualityReport:
    added: int = 0  # new records
    changed: int = 0  # new versions of records already kept
    unchanged: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)


def _record_key(record_id: str, version: int) -> bytes:
    return record_id.encode() + b"\x00" + _U32.pack(version)


def _node_key(node: str, record_id: str) -> bytes:
    return node.encode() + b"\x00" + record_id.encode()


def _type_key(record_type: str, record_id: str) -> bytes:
    return b"\x01" + record_type.encode() + b"\x00" + record_id.encode()


class QualityRecords:
    """Quality records over `records` (the live store's writer, or a read-only store)."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def history(self, record_id: str) -> list[dict[str, Any]]:
        """Every version of the record, oldest first ([] when there is none)."""
        prefix = record_id.encode() + b"\x00"
        out = []
        for key, value in self.records.scan("quality", prefix):
            if not key.startswith(prefix) or len(key) != len(prefix) + _U32.size:
                if not key.startswith(prefix):
                    break
                continue  # a longer id that shares this prefix
            out.append(dict(json.loads(value)))
        return out

    def _any(self) -> bool:
        """Is any record kept?"""
        return next(iter(self.records.scan("quality")), None) is not None

    def _exists(self, record_id: str) -> bool:
        """Is any version kept (one point read: every record has a version 1)?"""
        return self.records.read("quality", _record_key(record_id, 1)) is not None

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The newest version, or None."""
        versions = self.history(record_id)
        return versions[-1] if versions else None

    def ids_for_node(self, node: str) -> list[str]:
        """Ids of the records any version of which attached to `node`."""
        prefix = node.encode() + b"\x00"
        out = []
        for key, _ in self.records.scan("quality_nodes", prefix):
            if not key.startswith(prefix):
                break
            out.append(key[len(prefix):].decode())
        return out

    def for_nodes(self, nodes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """node -> the newest version of each record attached to it (nodes without: absent)."""
        out: dict[str, list[dict[str, Any]]] = {}
        cache: dict[str, dict[str, Any] | None] = {}
        for node in nodes:
            for rid in self.ids_for_node(node):
                if rid not in cache:
                    cache[rid] = self.get(rid)
                record = cache[rid]
                if record is not None and node in record["keys"]:
                    out.setdefault(node, []).append(record)
        return out

    def of_type(self, record_type: str) -> list[dict[str, Any]]:
        """The newest version of every record of `record_type` (through the type index)."""
        prefix = b"\x01" + record_type.encode() + b"\x00"
        out = []
        for key, _ in self.records.scan("quality_nodes", prefix):
            if not key.startswith(prefix):
                break
            record = self.get(key[len(prefix):].decode())
            if record is not None:
                out.append(record)
        return out

    def change_orders(self) -> list[dict[str, Any]]:
        """The newest version of every change order."""
        return self.of_type("change_order")

    def frame(self, fields: Sequence[str] = ("record_id", "record_type", "status", "title",
                                              "result", "disposition", "keys")) -> pl.DataFrame:
        """The newest version of every record as one table of `fields` (absent: null), by
        record id: read from quality_columns (a million records in half a second) once every
        version has its row there, else decoded from the JSON in bulk."""
        if self.records.read("meta", WHOLE) is not None:
            return newest(self.records, fields).select(
                pl.col(name) if name in COLUMNS else pl.lit(None, pl.String).alias(name)
                for name in fields)
        return self._decoded(fields)

    time = staticmethod(kept_time)

    def make_whole(self) -> int:
        """index.quality_columns.make_whole of these records."""
        return make_whole(self.records)

    def _decoded(self, fields: Sequence[str]) -> pl.DataFrame:
        """frame() from the JSON of every version (a store whose columns are not whole)."""
        return decoded(self.records, fields)

    def correction(self, record_id: str, status: str | None,
                   changes: dict[str, str | None], now: datetime | None = None
                   ) -> dict[str, Any]:
        """The change (trust.changes "quality-record") that makes `record_id`'s next version
        its newest one with `status` and `changes` (field -> text; None or "" removes it):
        what `put` refuses (a step back, other content) goes through two-person approval.
        Checked now as an import would check the record; InvalidInput names the problem."""
        old = self.get(record_id)
        if old is None:
            raise InvalidInput(f"no quality record {record_id}")
        previous = {k: v for k, v in old.items() if k not in _KEPT_META}
        row = {k: _as_text(v) for k, v in previous.items() if k != "keys"}
        row.update({k: "" if v is None else v for k, v in changes.items()})
        if status is not None:
            row["status"] = status
        unknown = set(changes) - set(OPTIONAL) - {"title", "opened_at"}
        if unknown:
            raise InvalidInput(f"quality record fields that can be corrected: title, "
                               f"opened_at, {', '.join(OPTIONAL)}; not "
                               f"{', '.join(sorted(unknown))}")
        row["key"] = old["keys"][0]
        fields, where, problem = check_row(row, now or datetime.now(UTC))
        if problem:
            raise InvalidInput(f"record {record_id}: {where}: {problem}")
        content = {"record_id": record_id, "record_type": old["record_type"],
                   "status": row["status"].strip(), **fields, "keys": sorted(old["keys"])}
        if content == previous:
            raise InvalidInput(f"record {record_id} already holds that")
        return {"type": "quality-record", "record_id": record_id,
                "version": int(old["version"]), "content": content, "previous": previous}

    def correction_puts(self, change: dict[str, Any], recorded_by: str, when: str,
                        source: str) -> tuple[list[tuple[str, bytes, bytes]],
                                              list[tuple[str, bytes, bytes | None]]]:
        """(puts, preconditions) that keep the corrected version: its number is the next
        one after the version the proposal read, which must still be the newest."""
        record_id, number = change["record_id"], int(change["version"]) + 1
        kept = {**change["content"], "version": number, "recorded_at": when,
                "recorded_by": recorded_by, "source": source}
        puts = [("quality", _record_key(record_id, number), canonical_bytes(kept)),
                *[("quality_nodes", _node_key(k, record_id), b"") for k in kept["keys"]],
                ("quality_nodes", _type_key(kept["record_type"], record_id), b""),
                columns_put(rows_table([kept]))]
        return puts, [("quality", _record_key(record_id, number), None)]

    def put(self, versions: RecordVersions, by: Principal, source: str,
            unknown_keys: UnknownKeys, now: datetime | None = None, *,
            write: bool = True) -> QualityReport:
        """Keep `versions` (a record's versions by status order) as new versions where they
        move a record forward; the rest are rejects with the reason. With `write=False`, only
        the report: what would be kept and what rejected.

        A record not kept yet, whose keys are all nodes and whose versions are each a step
        forward (the bulk of any first import), is written as columns; the others version by
        version with every check. Either way each version has its own audit record."""
        with _PUTTING:  # two puts of one record at once would both number its next version
            return self._put(versions, by, source, unknown_keys, now, write)

    def _put(self, versions: RecordVersions, by: Principal, source: str,
             unknown_keys: UnknownKeys, now: datetime | None, write: bool) -> QualityReport:
        report = QualityReport()
        when = iso_ms(now or datetime.now(UTC))
        frame = versions.frame
        if not frame.height:
            return report
        missing = unknown_keys(frame["keys"].explode().drop_nulls().unique().sort().to_list())
        ids = frame["record_id"].unique().sort().to_list()  # sorted: a multi-get's best order
        first = not self._any()
        present = [] if first else self.records.read_many(  # a first import reads nothing
            "quality", [_record_key(r, 1) for r in ids])
        careful = {rid for rid, value in zip(ids, present, strict=False) if value is not None}
        if missing:
            careful |= set(frame.filter(pl.col("keys").list.eval(
                pl.element().is_in(list(missing))).list.any())["record_id"].to_list())
        careful |= set(frame.group_by("record_id").agg(
            same=pl.col("rank").n_unique() < pl.len()).filter("same")["record_id"].to_list())
        chosen = pl.col("record_id").is_in(list(careful))
        if first and write:  # every version from here on has its row in quality_columns
            self.records.write([("meta", WHOLE, b"1")], [])
        self._put_new(frame.filter(~chosen), by, source, when, report, write)
        checked = frame.filter(chosen)
        if checked.height >= _MANY:
            checked = self._drop_unchanged(checked, report)
        self._put_each(RecordVersions(checked), by, source, when, missing, report, write)
        return report

    def _drop_unchanged(self, versions: pl.DataFrame, report: QualityReport) -> pl.DataFrame:
        """`versions` less those that repeat a kept version of their record (same status
        and fields, keys among its keys), counted unchanged: what _put_each would find one
        at a time, found as columns (an export sent again). Only the kept versions that have
        rows in quality_columns are looked at; the rest are left to _put_each. Removing them
        changes nothing for the others: an unchanged version never becomes a newest."""
        if self.records.read("meta", WHOLE) is None:
            return versions
        content = ["status", *CONTENT]
        kept = column_rows(self.records, [*content, "keys"]).join(
            versions.select("record_id").unique(), on="record_id", how="semi")
        paired = versions.with_row_index("at").join(
            kept, on="record_id", how="inner", suffix="_kept")
        same = pl.all_horizontal(
            *(pl.col(c).eq_missing(pl.col(f"{c}_kept")) for c in content),
            pl.col("keys").list.set_difference(pl.col("keys_kept")).list.len() == 0)
        unchanged = paired.filter(same)["at"].unique()
        report.unchanged += unchanged.len()
        return versions.with_row_index("at").filter(
            ~pl.col("at").is_in(unchanged.implode())).drop("at")

    def _put_new(self, frame: pl.DataFrame, by: Principal, source: str, when: str,
                 report: QualityReport, write: bool) -> None:
        """Keep the versions of records not kept yet, each a step past the one before, all
        keys nodes: numbered 1, 2, ... in status order, each attached to its own keys and
        those of the versions before it."""
        if not frame.height:
            return
        several = frame["record_id"].is_duplicated()  # most records have one version
        table = pl.concat([
            frame.filter(~several).with_columns(version=pl.lit(1, pl.Int64),
                                                old=pl.lit(None, pl.String)),
            frame.filter(several).with_columns(
                version=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("record_id"),
                old=pl.col("status").shift(1).over("record_id"))]).sort(
            "record_id", "version").with_columns(
            own=pl.col("keys").list.eval(pl.element().unique().sort()))  # not list.sort: slow
        table = table.with_columns(all_keys=_keys_so_far(table))
        first = int((table["version"] == 1).sum())
        report.added += first
        report.changed += table.height - first
        if not write:
            return
        for start in range(0, table.height, BATCH):
            chunk = table.slice(start, BATCH)
            rids, numbers = chunk["record_id"].to_list(), chunk["version"].to_list()
            puts = [("quality", _record_key(rid, number), value) for rid, number, value in
                    zip(rids, numbers, _kept_bytes(chunk, when, by.printed, source),
                        strict=True)]
            puts += [("quality_nodes", _node_key(key, rid), b"") for rid, key in
                     chunk.select("record_id", "own").explode("own").iter_rows()]
            puts += [("quality_nodes", _type_key(kind, rid), b"") for rid, kind in
                     chunk.filter(pl.col("version") == 1)
                     .select("record_id", "record_type").iter_rows()]
            puts.append(columns_put(chunk.with_columns(
                keys=pl.col("all_keys"), recorded_at=pl.lit(when),
                recorded_by=pl.lit(by.printed), source=pl.lit(source))))
            events = encode_events(chunk.select(
                action=pl.lit("quality.") + pl.col("record_type"),
                details=pl.struct(file="file", rows="rows", source=pl.lit(source),
                                  version="version"),
                keys=pl.concat_list(pl.lit("quality:") + pl.col("record_id"), "own"),
                new="status", old="old", reason=pl.lit(None, pl.String)),
                by.user_id, by.printed)
            self.records.write(puts, events)

    def _put_each(self, versions: RecordVersions, by: Principal, source: str, when: str,
                  missing: dict[str, list[str]], report: QualityReport, write: bool) -> None:
        """Keep `versions` one at a time, each checked against the newest kept version."""
        newest: dict[str, dict[str, Any] | None] = {}
        puts: list[tuple[str, bytes, bytes]] = []
        audit: list[AuditEvent] = []
        written: list[dict[str, Any]] = []  # the kept versions of this write
        # Each new version's key must still be free when written: a correction approved
        # since this put read the record took that number (then Conflict, nothing written).
        free: list[tuple[str, bytes, bytes | None]] = []
        for version in versions:
            if self._kept_already(version, newest):
                report.unchanged += 1
                continue
            problem = self._problem(version, missing, newest)
            if problem is not None:
                rows = [problem["row"]] if "row" in problem else list(version.rows)
                report.rejects += [{**problem, "file": version.file, "row": row}
                                   for row in rows]
                continue
            old = newest[version.record_id]
            content = version.content()
            if old is not None and set(content["keys"]) <= set(old["keys"]) and _same(
                    old, content):
                report.unchanged += 1
                continue
            number = 1 if old is None else int(old["version"]) + 1
            kept = {**content, "version": number, "recorded_at": when,
                    "recorded_by": by.printed, "source": source}
            if old is not None:
                kept["keys"] = sorted(set(old["keys"]) | set(content["keys"]))
            newest[version.record_id] = kept
            written.append(kept)
            if old is None:
                report.added += 1
            else:
                report.changed += 1
            puts.append(("quality", _record_key(version.record_id, number),
                         canonical_bytes(kept)))
            free.append(("quality", _record_key(version.record_id, number), None))
            puts += [("quality_nodes", _node_key(k, version.record_id), b"")
                     for k in content["keys"]]
            puts.append(("quality_nodes", _type_key(version.record_type, version.record_id),
                         b""))
            audit.append(AuditEvent(
                f"quality.{version.record_type}", by.user_id, by.printed,
                keys=[f"quality:{version.record_id}", *content["keys"]],
                old=None if old is None else old["status"], new=version.status,
                details={"version": number, "source": source, "file": version.file,
                         "rows": list(version.rows)}))
            if len(audit) >= BATCH and write:
                self.records.write([*puts, columns_put(rows_table(written))], audit,
                                   expect=free)
                puts, audit, written, free = [], [], [], []
        if audit and write:
            self.records.write([*puts, columns_put(rows_table(written))], audit,
                               expect=free)

    def _kept_already(self, version: RecordVersion,
                      newest: dict[str, dict[str, Any] | None]) -> bool:
        """Is `version` one its record has kept, newest or earlier (same status and
        fields, keys among its keys)? An export that lists a record's whole history, sent
        again, adds nothing and is no step back."""
        if version.record_id in newest or not self._exists(version.record_id):
            return False  # new, or seen earlier in this import: the checks decide (what they
            # accepted then is not written yet)
        content = version.content()
        return any(kept["status"] == version.status and _same(kept, content)
                   and set(content["keys"]) <= set(kept["keys"])
                   for kept in self.history(version.record_id))

    def _problem(self, version: RecordVersion, missing: dict[str, list[str]],
                 newest: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
        """Why `version` cannot be kept (a reject without file), or None."""
        base: dict[str, Any] = {"table": "quality"}  # the record's JSON only for a reject
        if missing or version.record_id in newest or self._exists(version.record_id):
            base["record"] = json.dumps(version.content(), default=str)
        for row, key in zip(version.rows, version.keys, strict=True):
            if key in missing:
                hint = missing[key]
                return {**base, "row": row, "field": "key",
                        "reason": f"unknown node key {key!r}"
                                  + (f"; did you mean {', '.join(hint)}?" if hint else "")
                                  + f" (record {version.record_id} is not kept)"}
        if version.record_id not in newest:
            newest[version.record_id] = (self.get(version.record_id)
                                         if "record" in base else None)
        old = newest[version.record_id]
        if old is None:
            return None
        if old["record_type"] != version.record_type:
            return {**base, "field": "record_type",
                    "reason": f"record {version.record_id} is a {old['record_type']}, not a "
                              f"{version.record_type}"}
        was = status_rank(old["record_type"], old["status"])
        now = status_rank(version.record_type, version.status)
        if now < was:
            return {**base, "field": "status",
                    "reason": f"record {version.record_id} is {old['status']}; moving it back "
                              f"to {version.status} is a correction (propose it: "
                              f"tracegraph correct propose --quality-record "
                              f"{version.record_id} --status {version.status})"}
        if now == was and not _same(old, version.content()):
            return {**base, "field": "record_id",
                    "reason": f"record {version.record_id} ({version.status}) is kept with "
                              "other content; changing it is a correction (propose it: "
                              f"tracegraph correct propose --quality-record "
                              f"{version.record_id} --set FIELD=VALUE)"}
        return None


_KEPT_META = ("version", "recorded_at", "recorded_by", "source")
_MAYBE = ("capa_id", "closed_at", "disposition", "effective_from", "inspector", "products",
          "result")
_ABSENT = "|".join(f'"{name}":null,' for name in _MAYBE)  # names only: no regex syntax


def _keys_so_far(table: pl.DataFrame) -> pl.Series:
    """Per version (columns record_id, version, own: its sorted keys): the sorted keys of
    it and every earlier version of its record."""
    if table["version"].max() == 1:
        return table["own"]
    several = table.filter(pl.col("record_id").is_duplicated())
    earlier = (several.select("record_id", upto="version")
               .join(several.select("record_id", "version", "own").explode("own"),
                     on="record_id")
               .filter(pl.col("version") <= pl.col("upto"))
               .group_by("record_id", "upto").agg(pl.col("own").unique().sort()))
    return table.join(earlier, left_on=["record_id", "version"],
                      right_on=["record_id", "upto"], how="left",
                      maintain_order="left").select(
        pl.coalesce("own_right", "own"))["own_right"]


def _kept_bytes(table: pl.DataFrame, when: str, recorded_by: str,
                source: str) -> list[bytes]:
    """canonical_bytes of each version as kept (its fields, all_keys as "keys", version,
    recorded_at, recorded_by, source), encoded as columns: polars writes JSON as
    canonical_bytes does (sorted keys here, no spaces, UTF-8, the same escapes); absent
    fields are dropped and measurements (already canonical JSON) put in place afterwards.
    Both edits match only key names: inside a JSON string every quote is escaped."""
    text = pl.struct(
        *_MAYBE[:5], keys=pl.col("all_keys"), opened_at="opened_at", products="products",
        record_id="record_id", record_type="record_type", recorded_at=pl.lit(when),
        recorded_by=pl.lit(recorded_by), result="result", source=pl.lit(source),
        status="status", title="title", version="version",
    ).struct.json_encode().str.replace_all(_ABSENT, "")
    measured = pl.col("measurements")
    text = (pl.when(measured.is_null()).then(text)
            .otherwise(text.str.replace(',"opened_at":', pl.lit(',"measurements":') + measured
                                        + pl.lit(',"opened_at":'), literal=True)))
    return table.select(text.cast(pl.Binary)).to_series().to_list()


def _as_text(value: Any) -> str:
    """A kept field as the file format's text (products joined by ';', measurements as
    JSON)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _same(kept: dict[str, Any], content: dict[str, Any]) -> bool:
    """Does the kept version hold `content`'s fields (node keys aside)?"""
    fields = {k for k in kept if k not in ("keys", "version", "recorded_at", "recorded_by",
                                            "source")} | set(content)
    return all(kept.get(k) == content.get(k) for k in fields if k != "keys")
