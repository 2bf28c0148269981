"""Step 2 of the data path: text → unit-length vectors.

`transformer` loads the packaged model (found offline by `_model_folder`) with
sentence-transformers (the only importer), `onnx_export` turns it into a torch-free
graph, `onnx_runtime` runs that graph, `pooling` derives sentence vectors from one
forward pass per passage.
"""
