"""Trust: who is asking (identity), what their role allows (roles), and a tamper-evident record
of every change (audit). Built for 21 CFR Part 11 / EU GMP Annex 11: unique users, authority
checks, secure computer-generated time-stamped audit trails that never obscure earlier values.

Layering: `trust` sits beside `index` (it keeps its records in the same store and writes audit
records in the same synced write as the data they describe) and under `server`.
"""
