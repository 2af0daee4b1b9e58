"""Quality management over the genealogy: device history records, what a quality record
affects, completeness and change control (quality records are kept by
index.quality_records; their file format is loaders.quality_records)."""
