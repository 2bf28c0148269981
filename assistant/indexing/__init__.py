"""Step 3 of the data path: passages and vectors → a generation on disk, served live.

`build` runs `build_plan` → `build_chunk` → `build_embed` → `build_write` → report;
`generations` owns the index folder (generations, the `CURRENT.json` pointer, the
lock); `vectors` is the FAISS index (the only importer of faiss), `lexical` the BM25
index, `text_layers` the stored text citations point into; `query_encoder` and
`passage_encoder` choose the generation's encoders; `watch` rebuilds on change.
"""
