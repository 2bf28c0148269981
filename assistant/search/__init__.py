"""Step 4 of the data path: question → cited excerpts (`retrieve`).

`question` checks the input, `searcher` holds the live generation, `pipeline` runs
candidates (dense + BM25) → `fusion` → `selection` → `citations` with `highlights`,
`signals` measures whether the sources cover the question at all, and `status`
describes the live generation.
"""
