"""Writes Schemathesis dictionaries of real resource ids and slugs read from a running instance,
so that generated requests reach handlers with existing resources instead of always 404.

Usage: python3 dictionaries.py BASE_URL ADMIN_TOKEN OUT_DIR
Writes OUT_DIR/{products,product_refs,variants,categories,category_slugs}.dict (libFuzzer format).
"""

import json
import sys
import urllib.request


def get(base: str, token: str, path: str):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def write(out: str, name: str, values) -> None:
    values = list(dict.fromkeys(str(v) for v in values if v))
    if not values:
        raise SystemExit(f"dictionaries.py: no values for {name}: is the database seeded?")
    with open(f"{out}/{name}.dict", "w", encoding="utf-8") as f:
        for v in values:
            f.write(json.dumps(v) + "\n")


def main(base: str, token: str, out: str) -> None:
    products = get(base, token, "/api/v1/products?limit=10&sort=newest")["items"]
    variants = []
    for p in products[:5]:
        variants += [v["id"] for v in get(base, token, f"/api/v1/admin/products/{p['id']}")["variants"]]
    categories, stack = [], list(get(base, token, "/api/v1/categories"))
    while stack:
        node = stack.pop()
        categories.append(node)
        stack.extend(node.get("children") or [])
    write(out, "products", [p["id"] for p in products])
    write(out, "product_refs", [p["id"] for p in products] + [p["slug"] for p in products])
    write(out, "variants", variants)
    write(out, "categories", [c["id"] for c in categories])
    write(out, "category_slugs", [c["slug"] for c in categories])


if __name__ == "__main__":
    main(*sys.argv[1:4])
