import argparse
import sys

from export import web
from zoo.cli import ArgumentParser


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m export.web", description=web.__doc__.split("\n\n")[0],
                       epilog=web.__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export_dir", help="an export folder (RUN_DIR/export, with signature.json) or its run folder")
    p.add_argument("--files", metavar="LIST", help="comma-separated .tflite files to put on the page (default: every "
                   "file signature.json lists that LiteRT.js can run; the page opens the first, float32 first)")
    p.add_argument("--out", metavar="DIR", help="the page's folder (default EXPORT_DIR/web)")
    p.add_argument("--litertjs", metavar="DIR", help="node_modules holding @litertjs/core and @litertjs/wasm-utils "
                   "(default: $ZOO_LITERTJS, the zoo checkout's node_modules after `npm ci`, ./node_modules)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.cli import run_cli

    files = [f.strip() for f in args.files.split(",") if f.strip()] if args.files else None
    return run_cli(lambda: web.build(args.export_dir, out=args.out, files=files, litertjs=args.litertjs), args.debug)


if __name__ == "__main__":
    sys.exit(main())
