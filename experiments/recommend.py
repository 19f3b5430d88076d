"""``recjax-recommend run_dir=<run> user=196 k=10`` (or ``text="..."``, ``liked=50,172``,
``item_text="..."``, ``batch=out.csv``): recommendations from a trained run.

The arguments are ``key=value`` pairs like Hydra overrides, but parsed plainly: free text with
commas, quotes or brackets is taken as typed (Hydra's override grammar would read
``text=reading, travel`` as a list, and ``text=`` as the text-encoder config group).
"""

from __future__ import annotations

import sys

from experiments.config import clean_errors

KEYS = {"run_dir": str, "user": str, "text": str, "liked": str, "item_text": str, "k": int,
        "batch": str}


def parse(argv: list[str]) -> dict:
    args = {"k": 10}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq or key not in KEYS:
            raise ValueError(f"unknown argument {arg!r}; use key=value with keys "
                             f"{', '.join(KEYS)}")
        try:
            args[key] = KEYS[key](value)
        except ValueError:
            raise ValueError(f"{key}={value!r}: expected {KEYS[key].__name__}") from None
    if "liked" in args:
        args["liked"] = [x.strip() for x in args["liked"].strip("[]").split(",") if x.strip()]
    if "run_dir" not in args:
        raise ValueError("run_dir=<a run directory> is required")
    return args


@clean_errors("recjax-recommend")
def run(argv: list[str]) -> None:
    args = parse(argv)
    modes = [m for m in ("user", "text", "item_text", "batch") if m in args]
    if args.get("liked") and "text" not in modes:
        modes.append("text")
    if len(modes) != 1:
        raise ValueError("say what to recommend for with exactly one of user=<id>, "
                         "text=\"...\" (optionally with liked=<id,id>), item_text=\"...\", "
                         "batch=<file.csv|file.jsonl>")
    from recjax.recommend import Serving

    serving = Serving.from_run(args["run_dir"])
    mode, k = modes[0], args["k"]
    if mode == "user":
        recs = serving.for_user(args["user"], k)
        print(f"top {k} for user {args['user']}:")
        print(Serving.format(recs))
    elif mode == "text":
        liked = args.get("liked", [])
        recs = serving.for_text(args.get("text"), k, liked)
        print(f"top {k} for a new user: {args.get('text', '')!r}"
              + (f", liked {liked}" if liked else ""))
        print(Serving.format(recs))
    elif mode == "item_text":
        users, items = serving.for_new_item(args["item_text"], k)
        print(f"a new item: {args['item_text']!r}\nshow it to users: "
              + ", ".join(f"{u} ({s:.2f})" for u, s in users))
        print("closest known items:")
        print(Serving.format(items))
    else:
        n = serving.all_users(k, args["batch"])
        print(f"wrote {n:,} recommendations ({k} per user) to {args['batch']}")


def main() -> None:
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
