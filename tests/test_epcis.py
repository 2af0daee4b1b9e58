"""EPCIS 2.0 JSON/JSON-LD documents written outside this project (GS1, OpenEPCIS,
OpenTraceability) into a live store: valid documents load, invalid ones are rejected naming the
event and field, and traces match answers worked out by hand from the documents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import Graph
from index.file_ingest import IngestReport, events_of_node, ingest_epcis
from index.live import LiveStore
from loaders.epcis import read_any, read_document
from tests.conftest import SHARED
from trust.corrections import Corrections
from trust.identity import Principal

EPCIS = SHARED / "testdata" / "epcis"
GS1 = EPCIS / "gs1-EPCIS" / "JSON"
VALID = sorted(p for p in EPCIS.glob("**/*.json*")
               if "schema" not in p.parts and "Invalid" not in p.parts)
INVALID = sorted((EPCIS / "openepcis" / "2.0" / "EPCIS" / "JSON" / "Capture" / "Invalid")
                 .glob("*.json"))
# One event of an OpenEPCIS example names a GRAI without the leading zero GS1's syntax requires
# for AI 8003 ('8003/952012200000001004'): that event is rejected, the rest of it loads.
KNOWN = {("SensorData_with_combined_events.json", "8003")}


def _graph(live: LiveStore) -> Graph:
    return Graph(live.view().snapshot, live.view)


QA = Principal(9, "quinn", "Quinn QA", "qa", "session")


def _imported(live: LiveStore, paths: list[Path]) -> tuple[IngestReport, list[str]]:
    """Import, then approve (as a qa user) the corrections its errorDeclarations proposed;
    before the approval the declared events still answer (a proposal changes nothing)."""
    report, problems = ingest_epcis(live, paths)
    corrections = Corrections(live)
    for number in report.proposed:
        assert corrections.get(number).author_id == 0  # proposed by the import
        ack = live.ingest(corrections.approval(number, QA))
        assert ack.outcome == "applied", ack.message
    return report, problems


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_every_valid_document_loads(path: Path) -> None:
    events, problems = read_document(path)
    assert events
    unexpected = [p.message() for p in problems
                  if not any(path.name == name and token in p.reason for name, token in KNOWN)]
    assert unexpected == []


@pytest.mark.parametrize(("name", "event_field"), [
    ("EPCISDocument_without_context.json", (0, "@context")),
    ("ObjectEvent_with_invalid_action.json", (1, "action")),
    ("ObjectEvent_with_invalid_eventTime_format.json", (1, "eventTime")),
    ("ObjectEvent_with_quantity_as_text.json", (1, "quantityList[1].quantity")),
    ("ObjectEvent_without_identifier_list.json", (1, "epcList")),
])
def test_every_invalid_document_is_rejected_naming_event_and_field(
        name: str, event_field: tuple[int, str]) -> None:
    assert {p.name for p in INVALID} >= {name}
    events, problems = read_document(INVALID[[p.name for p in INVALID].index(name)])
    assert events == []
    assert [(p.event, p.field) for p in problems] == [event_field]
    assert name in problems[0].message()


def _trace_serials(data: Path, paths: list[Path], seed: str) -> set[str]:
    with LiveStore(data) as live:
        ingest_epcis(live, paths)
        table = _graph(live).trace(seed, node_kinds=["serial", "lot"])
        return set(table.column("key").to_pylist())


def test_transformation_by_hand_and_digital_link_alike(tmp_path: Path) -> None:
    """Example 9.6.4: inputs (two serials, three classes) -> one transformation -> four serials
    4012345.077889.25..28. The Digital Link version names the same things."""
    outputs = {f"urn:epc:id:sgtin:4012345.077889.{n}" for n in (25, 26, 27, 28)}
    urn = _trace_serials(tmp_path / "urn", [GS1 / "Example_9.6.4-TransformationEvent.jsonld"],
                         "urn:epc:class:lgtin:0614141.077777.987")
    dl = _trace_serials(tmp_path / "dl", [
        GS1 / "WithDigitalLinkID" / "Example_9.6.4-TransformationEventWithDigitalLink.jsonld"],
        "urn:epc:class:lgtin:0614141.077777.987")
    assert urn == dl == outputs
    with LiveStore(tmp_path / "urn") as live:
        upstream = set(_graph(live).trace("urn:epc:id:sgtin:4012345.077889.27", "upstream",
                                          node_kinds=["serial", "lot"]).column("key").to_pylist())
    assert upstream == {"urn:epc:id:sgtin:4012345.011122.25",
                        "urn:epc:id:sgtin:4000001.065432.99886655",
                        "urn:epc:class:lgtin:4012345.011111.4444",
                        "urn:epc:class:lgtin:0614141.077777.987",
                        "urn:epc:idpat:sgtin:4012345.066666.*"}


def test_aggregation_packs_children_into_the_parent(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        ingest_epcis(live, [GS1 / "Example_9.6.3-AggregationEvent.jsonld"])
        inside = set(_graph(live).trace("urn:epc:id:sscc:0614141.1234567890", "upstream")
                     .column("key").to_pylist())
    assert inside == {"urn:epc:id:sgtin:0614141.107346.2017",
                      "urn:epc:id:sgtin:0614141.107346.2018",
                      "urn:epc:idpat:sgtin:4012345.098765.*",
                      "urn:epc:class:lgtin:4012345.012345.998877"}


def test_duplicate_event_ids_load_once(tmp_path: Path) -> None:
    path = EPCIS / "opentraceability" / "EPCISQueryDocument_duplicate_eventIDs.jsonld"
    with LiveStore(tmp_path / "data") as live:
        first, _ = ingest_epcis(live, [path, path, GS1 / "Example_9.6.1-ObjectEvent.jsonld",
                                       GS1 / "Example_9.6.1-ObjectEvent.jsonld"])
        events = sum(len(read_document(p)[0])
                     for p in (path, GS1 / "Example_9.6.1-ObjectEvent.jsonld"))
        # Each distinct eventID is one batch, however often it appears.
        assert sum(first.batches.values()) <= events
        edges = _graph(live).edge_count
        again, _ = ingest_epcis(live, [GS1 / "Example_9.6.1-ObjectEvent.jsonld"])
        assert again.batches["duplicate"] >= 1
        assert again.batches["applied"] == 0
        assert _graph(live).edge_count == edges


def test_an_error_declaration_retracts_the_event_and_keeps_history(tmp_path: Path) -> None:
    """The first event is declared erroneous (and corrected by the second, which makes the
    same links through its own transformation): the first's links are retracted."""
    doc = GS1 / "WithErrorDeclaration" / "ErrorDeclarationAndCorrectiveEvent.jsonld"
    wrong = "epcis:transformation:urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"
    right = "epcis:transformation:urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"
    lot = "urn:epc:class:lgtin:4012345.022222.87545GHGH"
    with LiveStore(tmp_path / "data") as live:
        report, problems = ingest_epcis(live, [doc])
        assert problems == []
        assert report.batches["applied"] == 2  # the two events; the declaration is proposed
        assert len(report.proposed) == 1
        lot_now = set(_graph(live).trace(lot, max_depth=1).column("key").to_pylist())
        assert lot_now == {wrong, right}  # pending: it changes no answer
        again, _ = _imported(live, [doc])  # the same document again proposes nothing new
        assert again.proposed == report.proposed
        graph = _graph(live)
        now = set(graph.trace(lot, max_depth=1).column("key").to_pylist())
        assert now == {right}
        entries = list(live.store.entries())
        retraction = next(e for e in entries if e.retractions)
        assert retraction.retractions[0].reason == ("correction 1: EPCIS errorDeclaration: "
                                                    "incorrect_data")
        before = graph.trace(lot, max_depth=1, as_of=_micros_to_iso(retraction.recorded_at - 1))
        assert set(before.column("key").to_pylist()) == {wrong, right}
        kept = events_of_node(tmp_path / "data", lot)
        assert sorted(kept["event_id"].to_list()) == sorted(
            [wrong.removeprefix("epcis:transformation:"),
             right.removeprefix("epcis:transformation:")])


def _micros_to_iso(micros: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).isoformat()


def test_sensor_data_is_kept_with_the_event_and_found_by_node(tmp_path: Path) -> None:
    doc = GS1 / "WithSensorData" / "SensorDataExample1.jsonld"
    with LiveStore(tmp_path / "data") as live:
        ingest_epcis(live, [doc])
    events, _ = read_document(doc)
    key = next(iter(events[0].nodes))
    kept = events_of_node(tmp_path / "data", key)
    assert kept.height == 1
    assert "sensorElementList" in kept["event"][0]


XML_VALID = sorted(p for p in EPCIS.glob("**/*.xml")
                   if "schema" not in p.parts and "Invalid" not in p.parts)


@pytest.mark.parametrize("path", XML_VALID, ids=[p.name for p in XML_VALID])
def test_every_valid_xml_document_loads(path: Path) -> None:
    events, problems = read_any(path)
    assert events
    assert [p.message() for p in problems] == []


def test_an_invalid_xml_document_is_rejected_naming_event_and_field() -> None:
    path = (EPCIS / "openepcis" / "2.0" / "EPCIS" / "XML" / "Capture" / "Invalid"
            / "ObjectEvent_with_invalid_action.xml")
    events, problems = read_any(path)
    assert events == []
    assert [(p.event, p.field) for p in problems] == [(1, "action")]


def test_the_three_company_chain_stitches_into_one_genealogy(tmp_path: Path) -> None:
    """Worked out from the documents: the primary processor turns whole yellowfin tuna lots
    into fillet lots ...54 and ...55 and ships them; the secondary processor turns those
    fillets into canned tuna lot abc12320250825 and ships it to the importer. So the canned
    lot reaches back, across all three files, to the whole-fish lots."""
    party = EPCIS / "opentraceability" / "multi-party"
    canned = "urn:epc:class:lgtin:08600031303.00.abc12320250825"
    fillets = "urn:gdst:example.org:product:lot:class:processor01.yellowfintunafillets."
    whole = "urn:gdst:example.org:product:lot:class:processor02.yellowfintunawhole."
    with LiveStore(tmp_path / "data") as live:
        _, problems = ingest_epcis(live, [party / "primary-processor.xml",
                                          party / "secondary-processor.xml",
                                          party / "importer.xml"])
        assert problems == []
        graph = _graph(live)
        up = graph.trace(canned, "upstream", node_kinds=["lot"])
        keys = set(up.column("key").to_pylist())
        assert {fillets + "2025121114333454", fillets + "2025121114333455"} <= keys
        assert any(k.startswith(whole) for k in keys)
        depth = dict(zip(up.column("key").to_pylist(), up.column("depth").to_pylist(),
                         strict=True))
        assert depth[fillets + "2025121114333454"] == 2  # through one transformation
        assert min(v for k, v in depth.items() if k.startswith(whole)) == 4  # through two
        down = set(graph.trace(whole + "2025121114333457", node_kinds=["lot"])
                   .column("key").to_pylist())
        assert canned in down


def test_the_opentraceability_traceback_chain(tmp_path: Path) -> None:
    """Worked out from traceback_tests.jsonld: feed-mill and hatchery lots -> farm harvest ->
    farmed tuna; farmed + wild tuna -> commingling -> commingled lot -> processing -> lot
    processor.2u -> case SSCC ...0004 -> pallet SSCC ...0005 -> shipped to the importer."""
    lot = "urn:gdst:example.org:product:lot:class:"
    pallet = "urn:epc:id:sscc:08600031303.0005"
    with LiveStore(tmp_path / "data") as live:
        _, problems = ingest_epcis(live, [EPCIS / "opentraceability" / "traceback_tests.jsonld"])
        # The file reuses three eventIDs for different events: said, and everything loads.
        assert len(problems) == 3
        assert all("names two different events" in p for p in problems)
        graph = _graph(live)
        up = dict(zip(*(graph.trace(pallet, "upstream", node_kinds=["lot", "logistic_unit"])
                        .column(c).to_pylist() for c in ("key", "depth")), strict=True))
        assert up == {
            "urn:epc:id:sscc:08600031303.0004": 1,
            lot + "processor.2u.v1-0122-2022": 2,
            lot + "processor.10u.commingle-01232022": 4,
            lot + "fishfarm.1u.farmed-tuna-01192022": 6,
            lot + "fisherman01.tunau.v1-0122-2022": 6,
            lot + "feedmill.1u.ff11252021": 8,
            lot + "hatchery.1u.tf12012021": 8,
        }
        down = set(graph.trace(lot + "hatchery.1u.tf12012021").column("key").to_pylist())
        assert {pallet, "urn:gdst:example.org:party:importer.1u"} <= down
        assert lot + "fisherman01.tunau.v1-0122-2022" not in down  # a sibling input, not downstream


def test_unpacking_ends_the_packing_link(tmp_path: Path) -> None:
    """traceback_tests.jsonld unpacks the case from the pallet and the lot from the case at the
    end (two AggregationEvent DELETEs): both links get end times and stay as history."""
    with LiveStore(tmp_path / "data") as live:
        ingest_epcis(live, [EPCIS / "opentraceability" / "traceback_tests.jsonld"])
        view = live.view()
        ended = int((view.edge_ended[: view.n_edges] != np.iinfo(np.int64).max).sum())
        assert ended == 2
        up = _graph(live).trace("urn:epc:id:sscc:08600031303.0005", "upstream")
        assert "urn:epc:id:sscc:08600031303.0004" in up.column("key").to_pylist()


SGTIN_2017 = "urn:epc:id:sgtin:0614141.107346.2017"
SSCC = "urn:epc:id:sscc:0614141.1234567890"
PLAIN = GS1 / "Example_9.6.3-AggregationEvent.jsonld"
DECLARED = GS1 / "WithFullCombinationOfFields" / "aggregation_event_all_possible_fields.jsonld"


@pytest.mark.parametrize("order", [(PLAIN, DECLARED), (DECLARED, PLAIN)],
                         ids=["plain-first", "declared-first"])
@pytest.mark.parametrize("together", [True, False], ids=["one-import", "two-imports"])
def test_an_error_declaration_withdraws_only_its_own_event(
        tmp_path: Path, order: tuple[Path, Path], together: bool) -> None:
    """Two events (different eventIDs) pack the same unit into the same SSCC; one of them is
    declared in error. The other still asserts the link, in every import order."""
    with LiveStore(tmp_path / "data") as live:
        if together:
            _, problems = ingest_epcis(live, list(order))
        else:
            problems = ingest_epcis(live, [order[0]])[1] + ingest_epcis(live, [order[1]])[1]
        assert problems == []
        graph = _graph(live)
        assert SSCC in graph.trace(SGTIN_2017).column("key").to_pylist()
        live.compact()
        assert SSCC in _graph(live).trace(SGTIN_2017).column("key").to_pylist()


def test_the_declared_event_alone_is_withdrawn(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        _, problems = _imported(live, [DECLARED])
        assert problems == []
        assert _graph(live).trace(SGTIN_2017).num_rows == 0
        live.compact()
        assert _graph(live).trace(SGTIN_2017).num_rows == 0


def test_a_declaration_arriving_after_its_event_still_withdraws_it(tmp_path: Path) -> None:
    """The erroneous event first without, then with its errorDeclaration (same eventID and
    content), in one import and in two."""
    import json

    raw = json.loads(DECLARED.read_text())
    event = raw["epcisBody"]["eventList"][0]
    plain = {**raw, "epcisBody": {"eventList": [
        {k: v for k, v in event.items() if k != "errorDeclaration"}]}}
    undeclared = tmp_path / "undeclared.jsonld"
    undeclared.write_text(json.dumps(plain))
    with LiveStore(tmp_path / "one") as live:
        assert _imported(live, [undeclared, DECLARED])[1] == []
        assert _graph(live).trace(SGTIN_2017).num_rows == 0
    with LiveStore(tmp_path / "two") as live:
        _imported(live, [undeclared])
        assert _graph(live).trace(SGTIN_2017).num_rows == 1
        assert _imported(live, [DECLARED])[1] == []
        assert _graph(live).trace(SGTIN_2017).num_rows == 0


def test_all_of_the_gs1_examples_import_without_a_batch_collision(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        report, problems = ingest_epcis(live, sorted((EPCIS / "gs1-EPCIS").glob("**/*.json*")))
    assert not [p for p in problems if "already used" in p or "sequence number" in p]
    # What is rejected is only two example DELETEs of associations no example made.
    unmatched_ends = {p.split(": ")[1] for p in problems if "to end" in p}
    assert report.batches["rejected"] == len(unmatched_ends) == 2, problems


def test_header_master_data_becomes_master_records(tmp_path: Path) -> None:
    """Location and EPCClass vocabularies (an EPCIS 1.2 XML header and a 2.0 JSON-LD one)
    become location and product records; a consignee list then names an SGLN customer."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from domain.schemas import SHIPPED_SCHEMA
    from index.master import MasterData
    from recall.consignees import consignee_list

    pharma = (EPCIS / "openepcis" / "1.2" / "EPCIS" / "XML" / "Capture" / "Documents"
              / "GS1_US_Pharma_Example_2_2_1_1.xml")
    tuna = EPCIS / "opentraceability" / "traceback_tests.jsonld"
    with LiveStore(tmp_path / "data") as live:
        report, _ = ingest_epcis(live, [pharma, tuna])
        master = MasterData(live)
        assert report.master == len(master.all("location")) + len(master.all("product"))
        site = master.get("location", "urn:epc:id:sgln:030001.111111.0")
        assert site == {"name": "GS1 Pharma", "street": "1 Biopharm Ct, Suite A",
                        "city": "Thousand Oaks", "region": "CA", "postal_code": "91320",
                        "country": "US"}
        pill = master.get("product", "urn:epc:idpat:sgtin:030001.0012345.*")
        assert pill == {"description": "Epcistra", "part": "0001-0123-45"}
        can = master.get("product", "urn:gdst:example.org:product:class:processor.2u")
        assert can is not None
        assert can["description"] == "Can of Tuna"
        again, _ = ingest_epcis(live, [pharma])
        assert again.master == 0  # the same header again changes nothing
        shipped = pa.table({
            "customer": ["urn:epc:id:sgln:030001.111111.0"], "shipment": ["ship:1"],
            "item": ["sn:1"], "item_kind": ["serial"], "product": [None], "lot": [None],
            "serial": ["sn:1"], "quantity": [1.0], "uom": [None],
            "ship_time": [datetime(2026, 1, 1, tzinfo=UTC)]}, schema=SHIPPED_SCHEMA)
        row = consignee_list(shipped, master).rows.to_dicts()[0]
        assert (row["customer_name"], row["city"]) == ("GS1 Pharma", "Thousand Oaks")


def _object_event(event_id: str, when: str, step: str, party: str, role: str,
                  **objects: object) -> dict[str, object]:
    return {"type": "ObjectEvent", "eventID": event_id, "eventTime": when,
            "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": step,
            role + "List": [{"type": "owning_party", role: party}], **objects}


def test_a_return_nets_against_what_the_party_received(tmp_path: Path) -> None:
    """Shipped: 40 of a lot and one serial to a hospital; returned (CBV `returning`, the
    hospital as source): 15 of the lot and the serial. The consignee list keeps 25 of the lot
    and not the serial; the shipping event's quantityList is the shipped quantity."""
    lot = "urn:epc:class:lgtin:4012345.012345.LOT7"
    serial = "urn:epc:id:sgtin:4012345.012345.77"
    party = "urn:epc:id:pgln:4012345.00001"
    ship = _object_event("ni:ship-1", "2026-03-01T10:00:00Z", "shipping", party,
                         "destination", epcList=[serial],
                         quantityList=[{"epcClass": lot, "quantity": 40, "uom": "EA"}])
    back = _object_event("ni:return-1", "2026-03-09T10:00:00Z", "returning", party,
                         "source", epcList=[serial],
                         quantityList=[{"epcClass": lot, "quantity": 15, "uom": "EA"}])
    document = tmp_path / "returns.jsonld"
    document.write_text(json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-10T00:00:00Z",
        "epcisBody": {"eventList": [ship, back]}}))
    with LiveStore(tmp_path / "data") as live:
        _, problems = ingest_epcis(live, [document])
        assert problems == []
        graph = _graph(live)
        rows = graph.shipped([lot]).to_pylist()
        assert [(r["customer"], r["quantity"]) for r in rows] == [(party, 25.0)]
        assert rows[0]["shipment"] == "epcis:shipment:ni:ship-1"
        assert graph.shipped([serial]).num_rows == 0  # it came back
        before = graph.shipped([lot], until="2026-03-05T00:00:00Z").to_pylist()
        assert [r["quantity"] for r in before] == [40.0]


def test_the_dhr_shows_the_events_and_sensor_readings_kept_for_a_unit(tmp_path: Path) -> None:
    import functools

    from index.file_ingest import events_of_nodes
    from index.quality_records import QualityRecords
    from loaders.epcis_quality import MAX_READINGS, sensor_readings
    from qms.dhr import device_history

    doc = GS1 / "WithSensorData" / "SensorDataExample1.jsonld"
    events, _ = read_document(doc)
    with LiveStore(tmp_path / "data") as live:
        ingest_epcis(live, [doc])
        key = next(iter(events[0].nodes))
        history = device_history(Graph(live.view().snapshot, live.view), QualityRecords(live),
                                 key, None, functools.partial(events_of_nodes,
                                                              tmp_path / "data"))
    raw = json.loads(doc.read_text())["epcisBody"]["eventList"][0]
    expected = [f"{r['type']} {r['value']} {r['uom']}" for element in raw["sensorElementList"]
                for r in element["sensorReport"]]
    [kept] = [e for e in history.events if e.event_id == events[0].event_id]
    assert kept.nodes == [key]
    assert kept.type == "ObjectEvent"
    assert kept.sensors == (expected if len(expected) <= MAX_READINGS
                            else [*expected[:MAX_READINGS],
                                  f"... {len(expected) - MAX_READINGS} more"])
    assert kept.sensors[0] == "Temperature 26.0 CEL"
    assert sensor_readings("not json") == []
    many = {"sensorElementList": [{"sensorReport": [
        {"type": "gs1:Temperature", "value": i, "uom": "CEL"} for i in range(30)]}]}
    readings = sensor_readings(json.dumps(many))
    assert readings[0] == "Temperature 0 CEL"
    assert readings[-1] == f"... {30 - MAX_READINGS} more"


def test_inspecting_events_become_inspection_records(tmp_path: Path) -> None:
    """GS1's PersistentDisposition example inspects ten serials (disposition in_progress:
    planned, no verdict yet); a conformant and a non_conformant inspection of the same
    serials, written here in CBV 2.0 form, are done with pass and fail. Each record names
    its event and attaches to every serial; a unit's DHR lists them."""
    from index.quality_records import QualityRecords
    from qms.dhr import device_history

    doc = GS1 / "PersistentDisposition-example.jsonld"
    body = json.loads(doc.read_text())
    inspected = next(e for e in body["epcisBody"]["eventList"] if e["bizStep"] == "inspecting")
    verdicts = {**body, "epcisBody": {"eventList": [
        {**inspected, "eventID": f"urn:uuid:6a1f0000-0000-4000-8000-00000000000{n}",
         "disposition": disposition, "bizStep": "https://ref.gs1.org/cbv/BizStep-inspecting"}
        for n, disposition in ((1, "conformant"), (2, "urn:epcglobal:cbv:disp:non_conformant"))
    ]}}
    second = tmp_path / "verdicts.jsonld"
    second.write_text(json.dumps(verdicts))
    with LiveStore(tmp_path / "data") as live:
        graph = Graph(live.view().snapshot, live.view)
        report, _ = ingest_epcis(live, [doc, second], unknown_keys=graph.unknown_keys)
        records = QualityRecords(live)
        serial = inspected["epcList"][0]
        planned = records.get(f"epcis:{inspected['eventID']}")
        assert planned is not None
        assert (planned["status"], planned.get("result")) == ("planned", None)
        assert sorted(planned["keys"]) == sorted(inspected["epcList"])
        assert planned["inspector"] == inspected["readPoint"]["id"]
        done = [records.get(f"epcis:urn:uuid:6a1f0000-0000-4000-8000-00000000000{n}")
                for n in (1, 2)]
        assert [(r["status"], r["result"]) for r in done if r] == [("done", "pass"),
                                                                    ("done", "fail")]
        assert report.quality == 3
        dhr = device_history(Graph(live.view().snapshot, live.view), records, serial)
        assert sorted(r["record_id"] for r in dhr.own) == sorted(
            [f"epcis:{inspected['eventID']}",
             "epcis:urn:uuid:6a1f0000-0000-4000-8000-000000000001",
             "epcis:urn:uuid:6a1f0000-0000-4000-8000-000000000002"])
        again, _ = ingest_epcis(live, [doc, second], unknown_keys=graph.unknown_keys)
        assert again.quality == 0  # the same events again keep nothing new
