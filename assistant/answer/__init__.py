"""Step 5 of the data path: cited excerpts → an answer (`ask`).

`compose` builds the extractive answer or abstains, `verify` keeps only sentences
found verbatim in their excerpt, `followups` rewrites a chat turn that refers back.
"""
