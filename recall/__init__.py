"""The recall workbench: recall cases (cases.py) and the consignee list built from the
genealogy and master data (consignees.py). It sits above `engine` (what the affected items
reached) and `trust` (who acts, the audit trail, signatures) and below `server` (CLI, RPCs
and the exporters: server/recall_exports.py)."""
