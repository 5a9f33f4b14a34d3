# The listing and search URL sets of `just bench` (sourced by benches/run.sh and benches/ab.sh).

# Search terms sent to the API; benches/sql/search.sql holds the same list for pgbench.
SEARCH_TERMS=(cotton jaket leathr "oak lamp" kettel "wool scarf" headphones "ceramic mug")

urlencode() { jq -rn --arg s "$1" '$s | @uri'; }

# Listing: every category given (a top-level one includes its sub-categories) x price range x
# sort, into LISTING_FILE; search: a mix of exact words, phrases and typos, into SEARCH_FILE.
write_url_sets() { # BASE LISTING_FILE SEARCH_FILE CATEGORY_SLUG...
  local base=$1 listing=$2 search=$3 slug range sort term
  shift 3
  : >"$listing"
  for slug in "$@"; do
    for range in "price_min=0&price_max=3000" "price_min=1000&price_max=5000" \
      "price_min=2000&price_max=8000" "price_min=5000&price_max=15000"; do
      for sort in newest price_asc price_desc; do
        echo "$base/api/v1/products?category=$slug&$range&sort=$sort" >>"$listing"
      done
    done
  done
  : >"$search"
  for term in "${SEARCH_TERMS[@]}"; do
    echo "$base/api/v1/products?q=$(urlencode "$term")" >>"$search"
  done
}
