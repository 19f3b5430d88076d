"""``recjax-report <sweep or run dir> [--out DIR]``: one table (Markdown + CSV) and a plot of
every finished run below the directory, seeds averaged (mean ± std)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="recjax-report", description=__doc__)
    p.add_argument("root", help="a multirun/sweep directory or a single run directory")
    p.add_argument("--out", help="where to write report.{md,csv,png} (default: root)")
    p.add_argument("--metrics", nargs="+", help="metrics to tabulate, e.g. test/ndcg@10")
    args = p.parse_args(argv)
    from recjax.report import DEFAULT_METRICS, write_report

    try:
        paths = write_report(args.root, args.out, tuple(args.metrics or DEFAULT_METRICS))
    except (FileNotFoundError, ValueError) as e:
        print(f"recjax-report: error: {e}", file=sys.stderr)
        return 2
    print(paths["markdown"].read_text())
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
