#!/usr/bin/env python3
"""Scores a running instance's search on the relevance suite (benches/relevance/queries.tsv).

    benches/relevance.py BASE_URL DATABASE_URL [SUITE]

For each query: the first 10 results of GET BASE_URL/api/v1/products?q=...&limit=10, and the
number of active products whose name holds every expected word (from PostgreSQL with psql). A
query's recall@10 is the relevant products among its results over min(10, relevant products);
queries with no relevant product in the catalog are left out (the quick benchmark's small
catalog lacks most items). Prints one JSON object: the mean recall@10 as "score", the number of
queries scored, and the queries that scored below 1. Standard library only.
"""

import json
import subprocess
import sys
import urllib.parse
import urllib.request


def suite(path):
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        query, expected = line.split("\t")
        yield query, expected.split()


def relevant_count(database_url, words):
    array = "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "]"
    sql = (
        "SELECT count(*) FROM products WHERE status = 'active' "
        f"AND string_to_array(lower(name), ' ') @> {array}::text[]"
    )
    out = subprocess.run(["psql", "-X", "-qAt", "-d", database_url, "-c", sql], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def results(base, query):
    url = f"{base}/api/v1/products?" + urllib.parse.urlencode({"q": query, "limit": 10})
    with urllib.request.urlopen(url, timeout=30) as res:
        return [item["name"] for item in json.load(res)["items"]]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base, database_url = sys.argv[1].rstrip("/"), sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else "benches/relevance/queries.tsv"
    scores, misses = [], []
    for query, words in suite(path):
        total = relevant_count(database_url, words)
        if total == 0:
            continue
        names = results(base, query)
        hits = sum(1 for n in names if set(words) <= set(n.lower().split()))
        score = hits / min(10, total)
        scores.append(score)
        if score < 1:
            misses.append({"query": query, "recall": round(score, 2), "top": names[:3]})
    mean = sum(scores) / len(scores) if scores else 0.0
    print(json.dumps({"score": round(mean, 3), "queries": len(scores), "below_1": misses}))


if __name__ == "__main__":
    main()
