"""`tracegraph ingest`: canonical node and edge files into a live store, batch by batch.

A file is a node table if it has `key` and `kind` columns, an edge table if it has `src`, `dst`
and `kind`. Node files go first (edges must find their nodes). Each batch's id is the file's
name and content hash plus the batch number, so re-running an interrupted ingest of the same
files re-sends the same batch ids: what was acknowledged is answered "duplicate", the rest is
applied, nothing ends up twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from domain.errors import InvalidInput
from domain.knobs import FILE_IN_FLIGHT as IN_FLIGHT
from index.ingest import Ack, EndRequest, IngestBatch, Policy
from index.live import LiveStore
from index.master import MasterData
from index.quality_records import QualityRecords, UnknownKeys
from loaders.epcis import EpcisEvent, read_any
from loaders.epcis_master import read_master_data
from loaders.epcis_quality import inspection_records
from loaders.quality_records import read_quality_frames
from trust.corrections import Corrections
from trust.identity import Principal

__all__ = ["IngestReport", "events_of_node", "events_of_nodes", "ingest_epcis", "ingest_files",
           "ingest_frames",
           "table_kind"]

Progress = Callable[[str], None]


@dataclass
class IngestReport:
    """What an ingest run did, counted per batch outcome and per record."""

    batches: Counter[str] = field(default_factory=Counter)
    nodes: int = 0
    edges: int = 0
    rejected_records: int = 0
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0
    proposed: list[int] = field(default_factory=list)
    """Corrections proposed (EPCIS errorDeclarations): they apply once approved."""
    master: int = 0
    """Master data records added or changed (EPCIS header vocabularies)."""
    quality: int = 0
    """Inspection records kept from EPCIS `inspecting` events (loaders.epcis)."""

    def count(self, ack: Ack) -> None:
        """Add one batch's acknowledgement to the counts."""
        self.batches[ack.outcome] += 1
        self.nodes += ack.nodes
        self.edges += ack.edges
        self.rejected_records += len(ack.errors)
        self.last_seq = max(self.last_seq, ack.seq)


Where = Callable[[int], str]
"""Where record n (1-based) of a batch came from, for messages: "FILE row R" of the source."""


def _settle(report: IngestReport, label: str, where: Where, future: Future[Ack]) -> None:
    """Wait for one batch of a table, count it, and note its first problems by source row."""
    ack = future.result()
    report.count(ack)
    for error in ack.errors[:20]:
        place = where(error.row) if error.row else f"{label} batch"
        report.problems.append(f"{place}: {error.field}: {error.reason}")


def _rows_of_file(path: str, first_row: int) -> Where:
    return lambda n: f"{path} row {first_row + n - 1}"


def _rows_of_frame(label: str, frame: pl.DataFrame, start: int) -> Where:
    """A converted frame that says where each record came from (`source_file`, `source_row`,
    as ERP conversion writes them) is reported by those; another by its own row number."""
    if {"source_file", "source_row"} <= set(frame.columns):
        def where(n: int) -> str:
            record = frame.row(n - 1, named=True)
            return f"{record['source_file']} row {record['source_row']}"
        return where
    return lambda n: f"{label} row {start + n}"


def table_kind(path: Path) -> str:
    """'nodes' or 'edges', from the file's columns."""
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            columns = pq.read_schema(path).names
        else:
            columns = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: no such file") from e
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from e
    if {"src", "dst", "kind"} <= set(columns):
        return "edges"
    if {"key", "kind"} <= set(columns):
        return "nodes"
    raise InvalidInput(f"{path}: neither a node table (key, kind, ...) nor an edge table "
                       f"(src, dst, kind, ...); it has: {', '.join(columns)}")


def _source_of(path: Path, batch_rows: int) -> str:
    """Batch ids of a file: its name (for people), its content hash and the batch size, so a
    re-run of the same ingest re-sends the same ids (answered `duplicate`), and another batch
    size or file name makes new ids whose rows the store recognises by content (an edge it
    holds is not added twice, a node folds), never a clash."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)[:100]
    return f"{name}@{digest.hexdigest()[:16]}.b{batch_rows}"


def _batches(path: Path, rows: int) -> Iterator[pl.DataFrame]:
    if path.name.lower().endswith((".parquet", ".pq")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame
        return
    try:
        frame = pl.read_csv(path, infer_schema=False, null_values=[""])
    except (OSError, pl.exceptions.PolarsError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InvalidInput(f"{path}: cannot read: {first}") from e
    for start in range(0, frame.height, rows):
        yield frame.slice(start, rows)


def ingest_files(live: LiveStore, files: Sequence[Path], *, batch_rows: int = 10_000,
                 policy: Policy = "all", writer: str = "cli",
                 progress: Progress | None = None) -> IngestReport:
    """Send every row of `files` to `live` in batches; returns the counts. Rejected records
    are in the store's rejects log (and summarised in `problems`)."""
    say = progress or (lambda _m: None)
    if not files:
        raise InvalidInput("no file given")
    kinds = {path: table_kind(path) for path in files}
    ordered = sorted(files, key=lambda p: kinds[p] != "nodes")
    report = IngestReport()
    pending: deque[tuple[str, Where, Future[Ack]]] = deque()

    for path in ordered:
        source = _source_of(path, batch_rows)
        say(f"{path}: {kinds[path]} as batches {source}/0..")
        first_row = 1
        for number, frame in enumerate(_batches(path, batch_rows)):
            table = kinds[path]
            batch = IngestBatch(source, number, frame if table == "nodes" else None,
                                frame if table == "edges" else None, policy=policy,
                                writer=writer)
            pending.append((str(path), _rows_of_file(str(path), first_row),
                            live.submit(batch)))
            first_row += frame.height
            while len(pending) > IN_FLIGHT:
                _settle(report, *pending.popleft())
            if number % 100 == 99:
                say(f"{path}: {first_row - 1:,} rows sent; {dict(report.batches)}")
        while pending:
            _settle(report, *pending.popleft())
    return report


def ingest_frames(live: LiveStore, tables: Sequence[tuple[str, str, pl.DataFrame]], *,
                  batch_rows: int = 10_000, policy: Policy = "all", writer: str = "cli",
                  progress: Progress | None = None) -> IngestReport:
    """Send in-memory canonical tables: (source id, "nodes" or "edges", frame), node tables
    first. The source id must be derived from the content (for example the export files' and
    mapping's hashes), so that a re-run re-sends the same batch ids."""
    say = progress or (lambda _m: None)
    report = IngestReport()
    pending: deque[tuple[str, Where, Future[Ack]]] = deque()

    for source, table, frame in sorted(tables, key=lambda t: t[1] != "nodes"):
        say(f"{source}: {frame.height:,} {table}")
        for number, start in enumerate(range(0, frame.height, batch_rows)):
            part = frame.slice(start, batch_rows)
            batch = IngestBatch(source, number, part if table == "nodes" else None,
                                part if table == "edges" else None, policy=policy,
                                writer=writer)
            pending.append((f"{source} {table}", _rows_of_frame(f"{source} {table}", part,
                                                                start), live.submit(batch)))
            while len(pending) > IN_FLIGHT:
                _settle(report, *pending.popleft())
        while pending:
            _settle(report, *pending.popleft())
    return report


EVENTS_DIR = "events"


def ingest_epcis(live: LiveStore, paths: Sequence[Path], *, writer: str = "cli",
                 progress: Progress | None = None,
                 unknown_keys: UnknownKeys | None = None) -> tuple[IngestReport, list[str]]:
    """EPCIS documents into the live store, one batch per event (batch id from the eventID and
    the event's content, so an event seen again in any later file loads once). An eventID
    reused for a different event is
    reported, and both events load (dropping either could hide a link from a recall). An
    errorDeclaration becomes a correction proposal (IngestReport.proposed). Every
    event is also kept, whole, in DATA/events/ (sensor data and inspections included),
    findable by node key. With `unknown_keys` (engine.Graph.unknown_keys over `live`), each
    `inspecting` event also becomes an inspection record (loaders.epcis_quality.inspection_records).
    Returns the report and the problems."""
    say = progress or (lambda _m: None)
    report = IngestReport()
    problems: list[str] = []
    declared: list[EpcisEvent] = []
    seen: set[tuple[str, str]] = set()
    contents: dict[str, set[str]] = {}
    pending: list[tuple[Path, Future[Ack]]] = []
    for path in paths:
        if not path.is_file():
            raise InvalidInput(f"{path}: not a file (give EPCIS documents, not a directory)"
                               if path.is_dir() else f"{path}: no such file")
        events, bad = read_any(path)
        report.rejected_records += len(bad)
        say(f"{path}: {len(events)} events, {len(bad)} rejected")
        problems += [p.message() for p in bad]
        live.keep_rejects([{"table": "epcis", "file": str(path), "row": p.event,
                            "field": p.field, "reason": p.reason,
                            "record": p.event_id or ""} for p in bad], f"epcis:{path.name}")
        _keep_events(live.data_dir, path, events)
        records = read_master_data(path)
        if records:
            changed = MasterData(live).put(records, Principal(0, writer, writer, "writer",
                                                              "epcis import"),
                                           f"epcis:{path.name}")
            report.master += changed.added + changed.changed
        for event in events:
            if event.retract_reason:  # also when the event itself came earlier, undeclared
                declared.append(event)
            if (event.event_id, event.content) in seen:
                continue  # the same event again: loads once
            seen.add((event.event_id, event.content))
            contents.setdefault(event.event_id, set()).add(event.content)
            if len(contents[event.event_id]) == 2:
                problems.append(f"{path}: eventID {event.event_id} names two different events; "
                                "both are loaded (fix the sender's eventIDs)")
            if not event.nodes:
                continue  # an observation of a place: kept in events/, nothing to link
            ends = [EndRequest(e["src"], e["dst"], e["kind"], e["at"]) for e in event.ends]
            if ends:  # the edges it ends must be applied first
                _settle_events(pending, report, problems)
            nodes = pl.DataFrame({"key": list(event.nodes), "kind": list(event.nodes.values())})
            edges = pl.DataFrame(event.edges, schema={
                "src": pl.String, "dst": pl.String, "kind": pl.String,
                "event_time": pl.Datetime("us", "UTC"), "quantity": pl.Float64,
                "event_id": pl.String}) if event.edges else None
            identity = f"{event.event_id}|{event.content}".encode()
            source = "epcis-" + hashlib.sha256(identity).hexdigest()[:32]
            pending.append((path, live.submit(IngestBatch(source, 0, nodes, edges, writer=writer,
                                                          ends=ends))))
        _settle_events(pending, report, problems)
        if unknown_keys is not None:
            _keep_inspections(live, path, events, writer, report, problems, unknown_keys)
    # An errorDeclaration changes recorded data, so it is a correction proposal a qa user
    # approves (trust.corrections), authored by this import. It withdraws what *this* event
    # asserted (by its eventID), never the link: another event asserting the same link
    # keeps it, whatever the import order.
    corrections = Corrections(live)
    author = Principal(0, writer, writer, "writer", "epcis import")
    for event in declared:
        if not event.edges:
            continue
        identity = f"{event.event_id}|{event.content}".encode()
        origin = "epcis-declaration-" + hashlib.sha256(identity).hexdigest()[:32]
        try:
            proposal = corrections.propose(
                {"type": "retract-edge", "edges": [
                    {"src": e["src"], "dst": e["dst"], "kind": e["kind"],
                     "event_time": e["event_time"], "event_id": event.event_id,
                     "quantity": e.get("quantity")} for e in event.edges]},
                author, str(event.retract_reason), origin=origin)
        except InvalidInput as e:
            problems.append(f"error declaration of event {event.event_id} not proposed: {e}")
            continue
        if proposal.state == "pending" and proposal.id not in report.proposed:
            report.proposed.append(proposal.id)
    return report, problems


def _settle_events(pending: list[tuple[Path, Future[Ack]]], report: IngestReport,
                   problems: list[str]) -> None:
    """Wait for every submitted event batch and count its outcome."""
    while pending:
        path, future = pending.pop(0)
        ack = future.result()
        report.count(ack)
        problems += [f"{path}: {ack.batch}: {e.table} {e.row}: {e.field}: {e.reason}"
                     for e in ack.errors[:5]]


def _keep_inspections(live: LiveStore, path: Path, events: Sequence[EpcisEvent], writer: str,
                      report: IngestReport, problems: list[str],
                      unknown_keys: UnknownKeys) -> None:
    """The document's inspecting events as inspection records, once their nodes are in:
    linked to the genealogy like any quality record (the DHR and dhr-check see them)."""
    frame = inspection_records(events)
    if not frame.height:
        return
    versions, rejects = read_quality_frames([(str(path), frame)])
    kept = QualityRecords(live).put(versions, Principal(0, writer, writer, "writer",
                                                        "epcis import"),
                                    f"epcis:{path.name}", unknown_keys)
    rejects += kept.rejects
    live.keep_rejects(rejects, f"epcis:{path.name}")
    report.quality += kept.added + kept.changed
    problems += [f"{path}: inspection {r.get('row', '')}: {r['reason']}" for r in rejects[:5]]


def _keep_events(data_dir: Path, path: Path, events: Sequence[EpcisEvent]) -> None:
    """Write the document's events (whole, as JSON, with the node keys they touch) to
    DATA/events/<document hash>.parquet, atomically."""
    if not events:
        return
    folder = data_dir / EVENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    target = folder / f"{digest}.parquet"
    if target.exists():
        return
    frame = pl.DataFrame({
        "event_id": [e.event_id for e in events],
        "type": [e.type for e in events],
        "event_time": pl.Series([e.time for e in events], dtype=pl.Datetime("us", "UTC")),
        "document": [str(path)] * len(events),
        "keys": [sorted(e.nodes) for e in events],
        "event": [json.dumps(e.raw, ensure_ascii=False) for e in events],
    })
    temp = folder / f".{digest}.tmp"
    frame.write_parquet(temp)
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def events_of_node(data_dir: Path, key: str) -> pl.DataFrame:
    """Every kept EPCIS event that names `key` (sensor readings, inspections, ...)."""
    return events_of_nodes(data_dir, [key])


def events_of_nodes(data_dir: Path, keys: Sequence[str]) -> pl.DataFrame:
    """Every kept EPCIS event that names any of `keys`, oldest first (one scan of the kept
    event files, whatever the number of keys)."""
    folder = data_dir / EVENTS_DIR
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return pl.DataFrame(schema={"event_id": pl.String, "type": pl.String,
                                    "event_time": pl.Datetime("us", "UTC"),
                                    "document": pl.String, "keys": pl.List(pl.String),
                                    "event": pl.String})
    wanted = pl.Series(list(dict.fromkeys(keys)), dtype=pl.String)
    return (pl.scan_parquet(folder / "*.parquet")
            .filter(pl.col("keys").list.eval(pl.element().is_in(wanted)).list.any())
            .sort("event_time").collect())
