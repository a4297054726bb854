"""Run tap-marketo-bulk in one of the benchmark's variants (used by ``throughput.py``).

    python benchmarks/run_tap.py VARIANT [tap arguments...]

Variants:

``current``  the tap exactly as installed (the ``tap-marketo-bulk`` console script's function).
``slow``     the SDK's default record path: ``TYPE_CONFORMANCE_LEVEL = RECURSIVE`` on every bulk
             stream and the default ``SingerWriter``; the reference output of ``--small``.

``BENCH_PROFILE=path`` writes a cProfile of the run to ``path``.
"""

from __future__ import annotations

import os
import sys


def _tap_class(variant: str):
    if variant == "current":
        from tap_marketo_bulk.tap import TapMarketoBulk

        return TapMarketoBulk
    if variant == "slow":
        from singer_sdk.helpers.conform import TypeConformanceLevel

        from tap_marketo_bulk.streams.base import BulkExportStream
        from tap_marketo_bulk.tap import TapMarketoBulk

        BulkExportStream.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE

        class SlowTap(TapMarketoBulk):
            message_writer_class = _singer_writer()

        return SlowTap
    raise SystemExit(f"unknown variant {variant!r}; expected current or slow")


def _singer_writer() -> type:
    from singer_sdk.io_base import SingerWriter

    return SingerWriter


def main() -> None:
    variant = sys.argv[1]
    sys.argv = [f"tap-marketo-bulk[{variant}]", *sys.argv[2:]]
    profile = os.environ.get("BENCH_PROFILE")
    if variant == "current" and not profile:
        from tap_marketo_bulk.cli import main as command  # the console script, nothing imported before it

        command()
        return
    tap = _tap_class(variant)
    if not profile:
        tap.cli()
        return
    import cProfile

    profiler = cProfile.Profile()
    try:
        profiler.runcall(tap.cli)
    except SystemExit:
        pass
    finally:
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
