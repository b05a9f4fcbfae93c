#!/usr/bin/env python3
"""Turn a text file into an llm.c token file with a byte-level tokenizer (vocabulary 256).

usage: scripts/tokenize_text.py TEXT OUT.bin [--val VAL.bin --val-fraction 0.1]

The token file is a header of 256 int32 (magic 20240520, version 1, token count) followed by
the tokens as uint16: here the UTF-8 bytes of the text.
"""
import argparse
import struct
import sys


def write_tokens(path, tokens):
    header = [20240520, 1, len(tokens)] + [0] * 253
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<256i", *header))
        f.write(struct.pack(f"<{len(tokens)}H", *tokens))
    import os
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text")
    ap.add_argument("out")
    ap.add_argument("--val", help="also write the last part of the text as a validation file")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    args = ap.parse_args()
    try:
        data = open(args.text, "rb").read()
    except OSError as e:
        print(f"tokenize_text.py: {args.text}: {e.strerror}", file=sys.stderr)
        return 2
    if len(data) < 2:
        print(f"tokenize_text.py: {args.text}: needs at least two bytes of text", file=sys.stderr)
        return 2
    tokens = list(data)
    if args.val:
        cut = int(len(tokens) * (1 - args.val_fraction))
        write_tokens(args.out, tokens[:cut])
        write_tokens(args.val, tokens[cut:])
    else:
        write_tokens(args.out, tokens)
    print(f"tokenize_text.py: {len(tokens)} tokens from {args.text}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
