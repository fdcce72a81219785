"""``zoo bench``'s engine (:mod:`zoo.benchmark.timing`: build, warm up, time models
alternately, memory) and its 80-column table (:mod:`zoo.benchmark.render`). The
repository's ``bench/`` scripts measure zoo itself; this package measures a user's
models. Nothing is imported here: ``zoo --help`` stays free of torch."""
