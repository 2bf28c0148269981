"""The assistant on a Ray cluster (the optional `cluster` extra): the only
subpackage that imports ray, and nothing on the default path imports it.

- `assistant.cluster.build.build_on_ray`: the build, its chunking and embedding
  fanned out as Ray Data `map_batches` over an actor pool; the driver plans and
  commits the generation exactly as a local build does.
- `assistant.cluster.shards.ShardedSearch`: one Ray actor per shard of the live
  generation answering the candidate step of a query; the rest of the query path
  is the local one, so results are the same.
"""
