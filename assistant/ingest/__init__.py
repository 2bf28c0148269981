"""Step 1 of the data path: source files → `Document` → passages.

`sources` lists and reads the sources folder (no symlinks, confined reads),
`formats/` extracts PDF, HTML and Word files into a text layer in an isolated
worker, `metadata` reads a document's title, date and series, `chunking` cuts the
text into sentence-aware, token-bounded passages with exact offsets, counted with
the model's `tokenizer`.
"""
