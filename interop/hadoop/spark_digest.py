"""Reads a directory of Hadoop files with Spark and prints a digest of it.

    spark.sh DIR [raw|item]

Spark (pyspark, local mode) is pointed at DIR itself, as a user would point
it at a `mammoth cluster export`: `sc.sequenceFile(DIR)` reads every
SequenceFile in DIR and, for each MapFile directory in it, only its `data`
file. Keys and values are BytesWritable. With `item`, the value's 25-byte
header (docs/tap-export.md) is dropped first.

Prints one JSON line: records, key bytes, value bytes, and the sum mod 2^64
over the records of crc32(pair) * 2^32 + crc32(value), where pair is the
key's length (4 bytes, big-endian), the key and the value: two sides that
hold the same records, in any order, print the same line, and a value
moved to another key changes it.
"""
import json
import struct
import sys
import zlib

from pyspark import SparkConf, SparkContext


def main():
    path = sys.argv[1]
    layout = sys.argv[2] if len(sys.argv) > 2 else "raw"
    conf = SparkConf().setMaster("local[2]").setAppName("mammoth-spark-digest")
    conf = conf.set("spark.ui.enabled", "false")
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    try:
        rdd = sc.sequenceFile(path)
        if layout == "item":
            rdd = rdd.map(lambda kv: (kv[0], bytes(kv[1])[25:]))
        digest = rdd.map(
            lambda kv: (
                1,
                len(kv[0]),
                len(kv[1]),
                (zlib.crc32(struct.pack(">I", len(kv[0])) + bytes(kv[0]) + bytes(kv[1])) << 32)
                + zlib.crc32(bytes(kv[1])),
            )
        ).fold(
            (0, 0, 0, 0),
            lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2], (a[3] + b[3]) % (1 << 64)),
        )
        print(
            json.dumps(
                {"records": digest[0], "key_bytes": digest[1], "value_bytes": digest[2], "crc_sum": digest[3]}
            )
        )
    finally:
        sc.stop()


if __name__ == "__main__":
    main()
