"""Streaming data sets that never load whole: WebDataset tar shards read shard by shard.

``shard_files`` finds the shards and their sample counts (torch-free, for preflight),
``plan`` decides which samples each rank and DataLoader worker reads in an epoch,
``tar_reader`` reads and decodes them, ``batches`` turns that into the training loop's
resumable batches, ``writer`` makes shards (``dltrain shard``).
"""
