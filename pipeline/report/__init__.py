"""The offline HTML report: `build_report(sink, out_path)` reads what ClickHouse holds and writes
one self-contained file (docs/report.md says what it shows and how to read it)."""
