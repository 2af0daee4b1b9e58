"""Raw sources -> canonical Arrow tables.

`domain.schemas` declares the canonical node and edge tables (the interchange format);
`loaders.canonical` reads and validates them from Parquet or CSV; `loaders.synthetic` generates a
realistic, seeded medical-device genealogy in the same format.
"""
