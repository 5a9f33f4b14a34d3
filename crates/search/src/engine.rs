//! The index: every active product with what listings filter, sort and show, an inverted index
//! from word stems to products, and the vocabulary as an FST searched with Levenshtein automata.
//! Pure and synchronous: the adapter ([`crate::IndexedListing`]) holds it behind a lock and feeds
//! it the catalog's changes.
//!
//! A query's words must all match (as PostgreSQL's `websearch_to_tsquery` does). A word matches
//! a product through its stem, through an indexed word within its typo budget
//! ([`crate::text::typo_budget`]) and, for the last word only, through an indexed word it begins
//! (search as you type). A match scores `quality × idf × field weight`, summed over the query's
//! words: a name counts three times a description, a brand twice; an exact stem counts 1, a
//! prefix 0.8, a typo 0.6 (one edit) or 0.4 (two).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::LazyLock;

use catalog::{Facet, Facets, IndexedProduct, ListingQuery, PRICE_BANDS, ProductSummary, Sort, SortKey, price_band};
use fst::{IntoStreamer, Streamer};
use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder};
use uuid::Uuid;

use crate::text::{MAX_QUERY_WORDS, stem, typo_budget, words};

/// Which fields of a product a term occurs in (bits), and what each weighs.
const NAME: u8 = 1;
const BRAND: u8 = 2;
const DESCRIPTION: u8 = 4;

fn field_weight(mask: u8) -> f32 {
    if mask & NAME != 0 {
        3.0
    } else if mask & BRAND != 0 {
        2.0
    } else {
        1.0
    }
}

/// Expansions of one query word kept at most (a one-letter prefix could name thousands).
const MAX_EXPANSIONS: usize = 64;

static LEVENSHTEIN: LazyLock<[LevenshteinAutomatonBuilder; 3]> = LazyLock::new(|| {
    [
        LevenshteinAutomatonBuilder::new(0, true),
        LevenshteinAutomatonBuilder::new(1, true),
        LevenshteinAutomatonBuilder::new(2, true),
    ]
});

#[derive(Debug, Default)]
pub struct Index {
    docs: Vec<Option<Doc>>,
    /// What filters and sorts read, per slot, compact (a listing scans these, not the documents).
    cols: Vec<Col>,
    /// Category ids and brands, interned: a slot's `Col` holds their number + 1 (0: none).
    categories: Vec<Uuid>,
    category_code: HashMap<Uuid, u32>,
    brands: Vec<String>,
    brand_code: HashMap<String, u32>,
    /// Per category code: its live slots, sorted (a category filter reads only these).
    by_category: Vec<Vec<u32>>,
    slot_of: HashMap<Uuid, u32>,
    free: Vec<u32>,
    /// Stem → term id.
    terms: HashMap<String, u32>,
    /// Per term: (slot, fields) sorted by slot.
    postings: Vec<Vec<(u32, u8)>>,
    /// Indexed word → its stem's term id; the FST below is built from it.
    surface: BTreeMap<String, u32>,
    vocabulary: fst::Map<Vec<u8>>,
    vocabulary_stale: bool,
    live: usize,
    /// Every live product in the order of each sort but relevance ([`Sorted::of`]), and the
    /// facet counts of them all: a listing without a text or filter reads its page from these
    /// instead of passing over the whole catalog.
    sorted: [BTreeSet<Key>; Sorted::COUNT],
    totals: Counts,
    /// The facet counts of the products in stock (the listing with only `in_stock`).
    totals_in_stock: Counts,
}

/// The sorts kept in order for the unfiltered listing.
struct Sorted;

impl Sorted {
    const SORTS: [Sort; 4] = [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating];
    const COUNT: usize = Self::SORTS.len();

    fn of(sort: Sort) -> Option<usize> {
        Self::SORTS.iter().position(|s| *s == sort)
    }
}

#[derive(Debug)]
struct Doc {
    product: IndexedProduct,
    /// Term ids this product is listed under (to take it out again).
    terms: Vec<u32>,
}

/// A slot's filter and sort keys.
#[derive(Debug, Clone, Copy, Default)]
struct Col {
    live: bool,
    in_stock: bool,
    /// Category code (0: none).
    category: u32,
    /// Brand code (0: none).
    brand: u32,
    rating_count: i32,
    /// Lowest price, minor units, and its band ([`price_band`]).
    price: i64,
    band: u8,
    /// Creation time, microseconds since the epoch.
    created: i64,
    /// `rating_sum / rating_count` as PostgreSQL computes it (0 without ratings).
    rating: f64,
    id: Uuid,
}

/// A match of the query's words: the product's slot and its score.
type Hit = (u32, f64);

impl Index {
    pub fn new() -> Self {
        Index::default()
    }

    /// An index of `products`, each category's products in neighbouring slots: a category
    /// listing then reads its columns in memory order rather than one cache line per product.
    pub fn of(mut products: Vec<IndexedProduct>) -> Index {
        products.sort_unstable_by_key(|p| p.summary.category_id);
        let mut index = Index::new();
        for p in products {
            index.upsert(p);
        }
        index.refresh_vocabulary();
        index
    }

    /// Products held.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Distinct indexed words.
    pub fn vocabulary_len(&self) -> usize {
        self.surface.len()
    }

    /// Puts a product in (replacing what the index held of it).
    pub fn upsert(&mut self, product: IndexedProduct) {
        self.remove(product.summary.id);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.docs.push(None);
                (self.docs.len() - 1) as u32
            }
        };
        let mut fields: HashMap<u32, u8> = HashMap::new();
        let brand = product.summary.brand.clone().unwrap_or_default();
        for (text, field) in [(&product.summary.name, NAME), (&brand, BRAND), (&product.description, DESCRIPTION)] {
            for word in words(text) {
                let term = self.term(&word);
                *fields.entry(term).or_default() |= field;
            }
        }
        let mut terms: Vec<u32> = fields.keys().copied().collect();
        terms.sort_unstable();
        for &term in &terms {
            let list = &mut self.postings[term as usize];
            let at = list.partition_point(|(s, _)| *s < slot);
            list.insert(at, (slot, fields[&term]));
        }
        let p = &product.summary;
        let category = p.category_id.map_or(0, |c| intern(&mut self.categories, &mut self.category_code, c));
        let brand = p.brand.as_ref().map_or(0, |b| intern(&mut self.brands, &mut self.brand_code, b.clone()));
        let col = Col {
            live: true,
            in_stock: p.in_stock,
            category,
            brand,
            rating_count: p.rating_count,
            price: p.price_min.amount_minor,
            band: price_band(p.price_min.amount_minor) as u8,
            created: p.created_at.timestamp_micros(),
            rating: match p.rating_count {
                0 => 0.0,
                n => f64::from(product.rating_sum) / f64::from(n),
            },
            id: p.id,
        };
        if self.cols.len() < self.docs.len() {
            self.cols.resize(self.docs.len(), Col::default());
        }
        self.cols[slot as usize] = col;
        for (set, sort) in self.sorted.iter_mut().zip(Sorted::SORTS) {
            set.insert(Key::of(sort, slot, 0.0, &col));
        }
        self.totals.change(&col, 1);
        if col.in_stock {
            self.totals_in_stock.change(&col, 1);
        }
        if category > 0 {
            if self.by_category.len() <= category as usize {
                self.by_category.resize(category as usize + 1, Vec::new());
            }
            let list = &mut self.by_category[category as usize];
            let at = list.partition_point(|s| *s < slot);
            list.insert(at, slot);
        }
        self.slot_of.insert(product.summary.id, slot);
        self.docs[slot as usize] = Some(Doc { product, terms });
        self.live += 1;
    }

    /// Takes a product out; false when the index did not hold it.
    pub fn remove(&mut self, id: Uuid) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else { return false };
        if let Some(doc) = self.docs[slot as usize].take() {
            for term in doc.terms {
                let list = &mut self.postings[term as usize];
                if let Ok(at) = list.binary_search_by_key(&slot, |(s, _)| *s) {
                    list.remove(at);
                }
            }
        }
        let col = std::mem::take(&mut self.cols[slot as usize]);
        for (set, sort) in self.sorted.iter_mut().zip(Sorted::SORTS) {
            set.remove(&Key::of(sort, slot, 0.0, &col));
        }
        self.totals.change(&col, -1);
        if col.in_stock {
            self.totals_in_stock.change(&col, -1);
        }
        if let Some(list) = self.by_category.get_mut(col.category as usize).filter(|_| col.category > 0)
            && let Ok(at) = list.binary_search(&slot)
        {
            list.remove(at);
        }
        self.free.push(slot);
        self.live -= 1;
        true
    }

    /// The term id of a word's stem, recording the word in the vocabulary.
    fn term(&mut self, word: &str) -> u32 {
        if let Some(&t) = self.surface.get(word) {
            return t;
        }
        let stemmed = stem(word);
        let next = self.postings.len() as u32;
        let t = *self.terms.entry(stemmed).or_insert(next);
        if t == next {
            self.postings.push(Vec::new());
        }
        self.surface.insert(word.to_owned(), t);
        self.vocabulary_stale = true;
        t
    }

    /// Rebuilds the vocabulary's FST after words were added (the adapter calls it once per batch
    /// of changes; queries before it miss only the typos and prefixes of the new words).
    pub fn refresh_vocabulary(&mut self) {
        if !self.vocabulary_stale {
            return;
        }
        let pairs = self.surface.iter().map(|(w, t)| (w.as_bytes(), u64::from(*t)));
        self.vocabulary = fst::Map::from_iter(pairs).expect("a BTreeMap iterates its keys in order, without repeats");
        self.vocabulary_stale = false;
    }

    /// The terms a query word matches, with the quality of each match.
    fn expansions(&self, word: &str, last: bool) -> Vec<(u32, f32)> {
        let mut best: HashMap<u32, f32> = HashMap::new();
        let mut keep = |term: u32, quality: f32| {
            let q = best.entry(term).or_insert(0.0);
            *q = q.max(quality);
        };
        if let Some(&t) = self.terms.get(&stem(word)) {
            keep(t, 1.0);
        }
        let budget = typo_budget(word);
        if budget > 0 {
            let dfa = LEVENSHTEIN[budget as usize].build_dfa(word);
            self.search_vocabulary(&dfa, |term, surface| {
                let quality = match dfa.eval(surface) {
                    Distance::Exact(0) => 1.0,
                    Distance::Exact(1) => 0.6,
                    _ => 0.4,
                };
                keep(term, quality);
            });
        }
        if last {
            let dfa = LEVENSHTEIN[0].build_prefix_dfa(word);
            self.search_vocabulary(&dfa, |term, surface| {
                keep(term, if surface == word.as_bytes() { 1.0 } else { 0.8 })
            });
        }
        let mut out: Vec<(u32, f32)> =
            best.into_iter().filter(|(t, _)| !self.postings[*t as usize].is_empty()).collect();
        // The best matches first, then the most common; at most MAX_EXPANSIONS.
        out.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.postings[b.0 as usize].len().cmp(&self.postings[a.0 as usize].len()))
                .then(a.0.cmp(&b.0))
        });
        out.truncate(MAX_EXPANSIONS);
        out
    }

    fn search_vocabulary(&self, dfa: &DFA, mut each: impl FnMut(u32, &[u8])) {
        let mut stream = self.vocabulary.search(dfa).into_stream();
        let mut seen = 0;
        while let Some((surface, term)) = stream.next() {
            each(term as u32, surface);
            seen += 1;
            if seen >= 4 * MAX_EXPANSIONS {
                break;
            }
        }
    }

    /// Products matching every word of `text`, with their scores; `None` when it has no word.
    fn matching(&self, text: &str) -> Option<Vec<Hit>> {
        let mut words = words(text);
        words.truncate(MAX_QUERY_WORDS);
        if words.is_empty() {
            return None;
        }
        let n = words.len();
        let corpus = self.live.max(1) as f32;
        // Each word's expansions, and the number of postings they cover (the rarest word first).
        let mut per_word: Vec<(usize, Vec<(u32, f32)>)> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let ex = self.expansions(w, i + 1 == n);
                let cost = ex.iter().map(|(t, _)| self.postings[*t as usize].len()).sum();
                (cost, ex)
            })
            .collect();
        per_word.sort_by_key(|(cost, _)| *cost);
        // Candidates sorted by slot: the rarest word's postings, merged; each later word keeps
        // those it matches too (a binary search in each of its posting lists) and adds its score.
        let mut hits: Vec<Hit> = Vec::new();
        for (i, (_, expansions)) in per_word.into_iter().enumerate() {
            let lists: Vec<(&[(u32, u8)], f32)> = expansions
                .iter()
                .map(|&(t, q)| {
                    let list = &self.postings[t as usize];
                    (list.as_slice(), q * (1.0 + corpus / list.len() as f32).ln())
                })
                .collect();
            if i == 0 {
                hits = union(&lists);
            } else {
                hits.retain_mut(|(slot, score)| {
                    let best = lists
                        .iter()
                        .filter_map(|(list, w)| {
                            list.binary_search_by_key(slot, |(s, _)| *s)
                                .ok()
                                .map(|at| f64::from(w * field_weight(list[at].1)))
                        })
                        .reduce(f64::max);
                    best.map(|b| *score += b).is_some()
                });
            }
            if hits.is_empty() {
                break;
            }
        }
        Some(hits)
    }

    /// Calls `each` with every product a query selects (text and filters, no cursor), its score
    /// and its columns. Reads the compact columns only; a category filter reads only its
    /// categories' slots.
    fn select(&self, q: &ListingQuery, mut each: impl FnMut(u32, f64, &Col)) {
        // Category codes wanted (an id the index does not know selects nothing of it).
        let wanted: Option<Vec<u32>> =
            q.categories.as_ref().map(|c| c.iter().filter_map(|id| self.category_code.get(id).copied()).collect());
        let brand = match &q.brand {
            Some(b) => match self.brand_code.get(b) {
                Some(code) => Some(*code),
                None => return,
            },
            None => None,
        };
        let (min, max) = (q.price_min.unwrap_or(i64::MIN), q.price_max.unwrap_or(i64::MAX));
        let mut visit = |slot: u32, score: f64| {
            let c = &self.cols[slot as usize];
            if c.live
                && wanted.as_ref().is_none_or(|w| w.contains(&c.category))
                && brand.is_none_or(|b| c.brand == b)
                && c.price >= min
                && c.price <= max
                && (!q.in_stock || c.in_stock)
            {
                each(slot, score, c);
            }
        };
        match q.q.as_deref().map(|t| self.matching(t)) {
            Some(Some(hits)) => hits.into_iter().for_each(|(slot, score)| visit(slot, score)),
            // A text of no words (punctuation, stop words) matches nothing, as in PostgreSQL.
            Some(None) => {}
            None => match &wanted {
                Some(codes) => codes
                    .iter()
                    .filter_map(|c| self.by_category.get(*c as usize))
                    .flatten()
                    .for_each(|s| visit(*s, 0.0)),
                None => (0..self.cols.len() as u32).for_each(|s| visit(s, 0.0)),
            },
        }
    }

    fn doc(&self, slot: u32) -> &Doc {
        self.docs[slot as usize].as_ref().expect("hits name live slots")
    }

    /// Up to `q.limit + 1` products in the query's order after its cursor (what
    /// [`catalog::ListingRepo::list`] answers).
    pub fn list(&self, q: &ListingQuery) -> Vec<ProductSummary> {
        self.page(q, false).0
    }

    /// Counts over everything the query selects (what [`catalog::ListingRepo::facets`] answers).
    pub fn facets(&self, q: &ListingQuery) -> Facets {
        let mut counts = Counts::new(self);
        self.select(q, |_, _, c| counts.add(c));
        counts.facets(self)
    }

    /// A page and, when asked, the facets of the same selection: one pass over the selection
    /// counts the facets and keeps the first `q.limit + 1` after the cursor ([`TopK`]).
    pub fn page(&self, q: &ListingQuery, with_facets: bool) -> (Vec<ProductSummary>, Option<Facets>) {
        // A cursor of another sort is refused before it gets here; it selects nothing.
        let after = q.after.as_ref().map(|c| Key::of_cursor(q.sort, c).unwrap_or(Key::LAST));
        let take = usize::try_from(q.limit.saturating_add(1)).unwrap_or(usize::MAX).clamp(1, 10_000);
        // No text and no filter but `in_stock`: the page is read off the sort's order (skipping
        // what is out of stock when asked), the facets are the totals.
        let unfiltered = q.q.is_none()
            && q.categories.is_none()
            && q.brand.is_none()
            && q.price_min.is_none()
            && q.price_max.is_none();
        if let Some(set) = Sorted::of(q.sort).filter(|_| unfiltered).map(|i| &self.sorted[i]) {
            let from = after.map_or(Bound::Unbounded, Bound::Excluded);
            let keys: Vec<Key> = set
                .range((from, Bound::Unbounded))
                .filter(|k| !q.in_stock || self.cols[k.slot as usize].in_stock)
                .take(take)
                .copied()
                .collect();
            let totals = if q.in_stock { &self.totals_in_stock } else { &self.totals };
            return (self.summaries(q.sort, keys), with_facets.then(|| totals.clone().facets(self)));
        }
        let mut counts = with_facets.then(|| Counts::new(self));
        let mut first = TopK::new(take);
        self.select(q, |slot, score, c| {
            if let Some(counts) = counts.as_mut() {
                counts.add(c);
            }
            let key = Key::of(q.sort, slot, score, c);
            if after.is_some_and(|a| key <= a) {
                return;
            }
            first.push(key);
        });
        (self.summaries(q.sort, first.into_sorted()), counts.map(|c| c.facets(self)))
    }

    /// The products of `keys`, in their order, ranked as the sort says.
    fn summaries(&self, sort: Sort, keys: Vec<Key>) -> Vec<ProductSummary> {
        keys.into_iter()
            .map(|key| {
                let rank = match sort {
                    Sort::Relevance => key.score(),
                    Sort::Rating => self.cols[key.slot as usize].rating,
                    _ => 0.0,
                };
                ProductSummary { rank, ..self.doc(key.slot).product.summary.clone() }
            })
            .collect()
    }
}

/// Where a product stands in a sort's order, as one comparable value: the listing's order is
/// ascending `Key` order (descending sorts store their values complemented). The id breaks
/// ties, as in the SQL listing; the slot comes last so a cursor's key ([`Key::of_cursor`], slot
/// `u32::MAX`) sorts after its own product's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    a: u64,
    b: u64,
    id: u128,
    slot: u32,
}

/// An `i64` as a `u64` of the same order.
fn ordered_i64(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// An `f64` as a `u64` in `f64::total_cmp` order.
fn ordered_f64(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) }
}

fn f64_of_ordered(o: u64) -> f64 {
    f64::from_bits(if o >> 63 == 1 { o ^ (1 << 63) } else { !o })
}

impl Key {
    /// Nothing comes after it.
    const LAST: Key = Key { a: u64::MAX, b: u64::MAX, id: u128::MAX, slot: u32::MAX };

    fn new(sort: Sort, score: f64, price: i64, created: i64, rating: (f64, i32), id: Uuid, slot: u32) -> Key {
        let id = id.as_u128();
        match sort {
            Sort::Relevance => Key { a: !ordered_f64(score), b: 0, id: !id, slot },
            Sort::Newest => Key { a: !ordered_i64(created), b: 0, id: !id, slot },
            Sort::PriceAsc => Key { a: ordered_i64(price), b: 0, id, slot },
            Sort::PriceDesc => Key { a: !ordered_i64(price), b: 0, id: !id, slot },
            Sort::Rating => Key { a: !ordered_f64(rating.0), b: !ordered_i64(i64::from(rating.1)), id: !id, slot },
        }
    }

    fn of(sort: Sort, slot: u32, score: f64, c: &Col) -> Key {
        Key::new(sort, score, c.price, c.created, (c.rating, c.rating_count), c.id, slot)
    }

    /// The key just after the cursor's product; `None` for a cursor of another sort.
    fn of_cursor(sort: Sort, cursor: &catalog::ListingCursor) -> Option<Key> {
        let (score, price, created, rating) = match (sort, &cursor.key) {
            (Sort::Relevance, SortKey::Relevance(r)) => (*r, 0, 0, (0.0, 0)),
            (Sort::Newest, SortKey::Newest(t)) => (0.0, 0, t.0.timestamp_micros(), (0.0, 0)),
            (Sort::PriceAsc | Sort::PriceDesc, SortKey::Price(v)) => (0.0, *v, 0, (0.0, 0)),
            (Sort::Rating, SortKey::Rating(avg, n)) => (0.0, 0, 0, (*avg, *n)),
            _ => return None,
        };
        Some(Key::new(sort, score, price, created, rating, cursor.id, u32::MAX))
    }

    /// The relevance score of a key of [`Sort::Relevance`].
    fn score(&self) -> f64 {
        f64_of_ordered(!self.a)
    }
}

/// The `take` smallest keys of a stream, in O(n) whatever the stream's order (a listing's
/// slots often come in its sort's order or against it, where a heap would sift on every key):
/// keys gather in a buffer; when it is full, the `take` smallest are kept and the largest of
/// them bounds what may enter from then on.
struct TopK {
    take: usize,
    keys: Vec<Key>,
    /// Keys at or above this cannot be among the `take` smallest.
    bound: Key,
}

impl TopK {
    fn new(take: usize) -> TopK {
        TopK { take, keys: Vec::with_capacity(Self::capacity(take)), bound: Key::LAST }
    }

    fn capacity(take: usize) -> usize {
        take.saturating_mul(2).max(256)
    }

    fn push(&mut self, key: Key) {
        if key >= self.bound {
            return;
        }
        self.keys.push(key);
        if self.keys.len() >= Self::capacity(self.take) {
            self.cut();
        }
    }

    fn cut(&mut self) {
        if self.keys.len() > self.take {
            self.keys.select_nth_unstable(self.take - 1);
            self.keys.truncate(self.take);
            self.bound = self.keys[self.take - 1];
        }
    }

    fn into_sorted(mut self) -> Vec<Key> {
        self.cut();
        self.keys.sort_unstable();
        self.keys
    }
}

/// Facet counts over a selection: per category and brand code, per price band, and in stock.
#[derive(Debug, Clone, Default)]
struct Counts {
    categories: Vec<i64>,
    brands: Vec<i64>,
    prices: [i64; PRICE_BANDS.len()],
    in_stock: i64,
    /// The category of the products just counted and how many: a category's products sit in
    /// neighbouring slots ([`Index::of`]), and adding a run at once spares a chain of
    /// increments of one counter.
    run: (u32, i64),
}

impl Counts {
    fn new(index: &Index) -> Counts {
        Counts {
            categories: vec![0; index.categories.len() + 1],
            brands: vec![0; index.brands.len() + 1],
            prices: [0; PRICE_BANDS.len()],
            in_stock: 0,
            run: (0, 0),
        }
    }

    /// Counts a product in (`by` 1) or out (-1) directly, growing the counters as the index
    /// interns new categories and brands (the index's totals).
    fn change(&mut self, c: &Col, by: i64) {
        for (counts, code) in [(&mut self.categories, c.category), (&mut self.brands, c.brand)] {
            if counts.len() <= code as usize {
                counts.resize(code as usize + 1, 0);
            }
            counts[code as usize] += by;
        }
        self.prices[usize::from(c.band)] += by;
        self.in_stock += by * i64::from(c.in_stock);
    }

    fn add(&mut self, c: &Col) {
        if c.category != self.run.0 {
            if self.run.1 > 0 {
                self.categories[self.run.0 as usize] += self.run.1;
            }
            self.run = (c.category, 0);
        }
        self.run.1 += 1;
        self.brands[c.brand as usize] += 1;
        self.prices[usize::from(c.band)] += 1;
        self.in_stock += i64::from(c.in_stock);
    }

    /// The categories and brands (the 50 largest, ties by value), price bands and in stock.
    fn facets(mut self, index: &Index) -> Facets {
        if self.run.1 > 0 {
            self.categories[self.run.0 as usize] += self.run.1;
        }
        let named = |counts: Vec<i64>, name: &dyn Fn(usize) -> String| {
            top(counts
                .into_iter()
                .enumerate()
                .skip(1)
                .filter(|(_, n)| *n > 0)
                .map(|(i, count)| Facet { value: name(i - 1), count }))
        };
        Facets {
            categories: named(self.categories, &|i| index.categories[i].to_string()),
            brands: named(self.brands, &|i| index.brands[i].clone()),
            prices: Facets::price_bands(self.prices),
            in_stock: self.in_stock,
        }
    }
}

/// The slots of several posting lists (each sorted by slot) sorted by slot, each scored by its
/// best list: `weight × field weight`. Merged two at a time, the shortest lists first.
fn union(lists: &[(&[(u32, u8)], f32)]) -> Vec<Hit> {
    let mut lists = lists.to_vec();
    lists.sort_by_key(|(list, _)| list.len());
    lists
        .into_iter()
        .map(|(list, w)| list.iter().map(|&(slot, fields)| (slot, f64::from(w * field_weight(fields)))).collect())
        .reduce(merge)
        .unwrap_or_default()
}

/// Two slot-sorted hit lists as one, a slot in both keeping its higher score.
fn merge(a: Vec<Hit>, b: Vec<Hit>) -> Vec<Hit> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while let (Some(&(sa, xa)), Some(&(sb, xb))) = (a.peek(), b.peek()) {
        match sa.cmp(&sb) {
            Ordering::Less => out.extend(a.next()),
            Ordering::Greater => out.extend(b.next()),
            Ordering::Equal => {
                out.push((sa, xa.max(xb)));
                a.next();
                b.next();
            }
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

/// The code (number + 1) of a value, adding it when new.
fn intern<T: Clone + Eq + std::hash::Hash>(values: &mut Vec<T>, codes: &mut HashMap<T, u32>, value: T) -> u32 {
    if let Some(code) = codes.get(&value) {
        return *code;
    }
    values.push(value.clone());
    let code = values.len() as u32;
    codes.insert(value, code);
    code
}

fn top(facets: impl Iterator<Item = Facet>) -> Vec<Facet> {
    let mut v: Vec<Facet> = facets.collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v.truncate(50);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::ListingCursor;
    use chrono::{DateTime, TimeZone, Utc};
    use primitives::Money;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600 + minutes * 60, 0).unwrap()
    }

    fn product(n: u128, name: &str, description: &str, brand: &str, price: i64) -> IndexedProduct {
        let eur = "EUR".parse().unwrap();
        IndexedProduct {
            summary: ProductSummary {
                id: id(n),
                slug: format!("p-{n}"),
                name: name.into(),
                brand: Some(brand.into()),
                category_id: Some(id(1000 + n % 3)),
                image: None,
                price_min: Money::new(price, eur),
                price_max: Money::new(price + 100, eur),
                in_stock: n.is_multiple_of(2),
                rating_average: None,
                rating_count: (n % 4) as i32,
                created_at: at(n as i64 % 7),
                rank: 0.0,
            },
            description: description.into(),
            rating_sum: (n % 4 * n % 5) as i32,
        }
    }

    fn catalog() -> Index {
        let mut index = Index::new();
        for p in [
            product(1, "Classic Cotton Shirt", "A classic shirt made of cotton.", "Acme", 1999),
            product(2, "Rugged Leather Jacket", "A rugged jacket made of leather.", "Globex", 14999),
            product(3, "Oak Lamp", "A lamp made of oak.", "Acme", 4999),
            product(4, "Wireless Headphones", "Headphones with a long battery.", "Hooli", 8999),
            product(5, "Wool Scarf", "A soft scarf.", "Wonka", 2999),
            product(6, "Travel Mug", "A ceramic mug for wool lovers.", "Globex", 1499),
            product(7, "Leather Wallet", "A slim wallet made of leather.", "Stark", 3999),
            product(8, "Denim Jackets Set", "Two jackets made of denim.", "Acme", 9999),
        ] {
            index.upsert(p);
        }
        index.refresh_vocabulary();
        index
    }

    fn search(index: &Index, text: &str) -> Vec<u128> {
        let q = ListingQuery { q: Some(text.into()), sort: Sort::Relevance, limit: 50, ..Default::default() };
        index.list(&q).iter().map(|p| p.id.as_u128()).collect()
    }

    fn sorted(mut v: Vec<u128>) -> Vec<u128> {
        v.sort_unstable();
        v
    }

    #[test]
    fn words_match_by_stem_and_all_must_match() {
        let index = catalog();
        assert_eq!(sorted(search(&index, "jacket")), [2, 8], "jackets and jacket are one stem");
        assert_eq!(search(&index, "leather jacket"), [2]);
        assert_eq!(search(&index, "leather jacket oak"), Vec::<u128>::new());
        assert_eq!(search(&index, "the of and"), Vec::<u128>::new(), "stop words alone match nothing");
        assert_eq!(search(&index, "Hooli"), [4], "brands are searched");
    }

    #[test]
    fn typos_within_the_budget_match() {
        let index = catalog();
        assert_eq!(sorted(search(&index, "jaket")), [2, 8], "one edit in a word of five letters");
        assert_eq!(sorted(search(&index, "leahter")), [2, 7], "a swap of neighbours is one edit");
        assert_eq!(search(&index, "headfones"), [4], "two edits in a word of nine letters");
        assert_eq!(search(&index, "jxkxt"), Vec::<u128>::new(), "two edits in a word of five: no");
        assert_eq!(search(&index, "lamo"), Vec::<u128>::new(), "no typos below five letters");
    }

    #[test]
    fn the_last_word_matches_as_a_prefix() {
        let index = catalog();
        assert_eq!(search(&index, "oak la"), [3]);
        assert_eq!(search(&index, "headph"), [4]);
        assert_eq!(search(&index, "la oak"), Vec::<u128>::new(), "only the last word is a prefix");
    }

    #[test]
    fn a_name_ranks_above_a_description() {
        let index = catalog();
        // "wool" is in the scarf's name and the mug's description.
        assert_eq!(search(&index, "wool"), [5, 6]);
        let q = ListingQuery { q: Some("wool".into()), sort: Sort::Relevance, limit: 50, ..Default::default() };
        let hits = index.list(&q);
        assert!(hits[0].rank > hits[1].rank);
    }

    #[test]
    fn changes_replace_what_the_index_held() {
        let mut index = catalog();
        let mut p = product(3, "Oak Lamp", "A lamp made of oak.", "Acme", 4999);
        p.summary.name = "Brass Lantern".into();
        p.description = "A lantern.".into();
        index.upsert(p);
        index.refresh_vocabulary();
        assert_eq!(search(&index, "lamp"), Vec::<u128>::new());
        assert_eq!(search(&index, "lantrn"), [3], "a new word is found with typos once the vocabulary is rebuilt");
        assert!(index.remove(id(3)));
        assert!(!index.remove(id(3)));
        assert_eq!(search(&index, "lantern"), Vec::<u128>::new());
        assert_eq!(index.len(), 7);
        index.upsert(product(9, "Cotton Tote", "A bag.", "Acme", 999));
        index.refresh_vocabulary();
        assert_eq!(sorted(search(&index, "cotton")), [1, 9], "a freed slot is reused");
    }

    #[test]
    fn filters_and_facets_agree() {
        let index = catalog();
        let q = ListingQuery { brand: Some("Acme".into()), limit: 50, ..Default::default() };
        assert_eq!(sorted(index.list(&q).iter().map(|p| p.id.as_u128()).collect()), [1, 3, 8]);
        let all = ListingQuery { limit: 50, ..Default::default() };
        let facets = index.facets(&all);
        assert_eq!(facets.brands[0], Facet { value: "Acme".into(), count: 3 });
        for f in &facets.brands {
            let q = ListingQuery { brand: Some(f.value.clone()), limit: 50, ..Default::default() };
            assert_eq!(index.list(&q).len() as i64, f.count, "brand {}", f.value);
        }
        for f in &facets.categories {
            let q = ListingQuery { categories: Some(vec![f.value.parse().unwrap()]), limit: 50, ..Default::default() };
            assert_eq!(index.list(&q).len() as i64, f.count, "category {}", f.value);
        }
        for f in &facets.prices {
            let q = ListingQuery { price_min: Some(f.min), price_max: f.max, limit: 50, ..Default::default() };
            assert_eq!(index.list(&q).len() as i64, f.count, "prices {f:?}");
        }
        assert_eq!(facets.prices.iter().map(|f| f.count).sum::<i64>(), 8);
        let stocked = ListingQuery { in_stock: true, limit: 50, ..Default::default() };
        assert_eq!(index.list(&stocked).len() as i64, facets.in_stock);
        let q = ListingQuery {
            price_min: Some(2000),
            price_max: Some(9999),
            in_stock: true,
            limit: 50,
            ..Default::default()
        };
        assert_eq!(sorted(index.list(&q).iter().map(|p| p.id.as_u128()).collect()), [4, 8]);
    }

    fn page_through(index: &Index, q: &ListingQuery) -> Vec<Uuid> {
        let mut out = Vec::new();
        let mut q = q.clone();
        loop {
            let items = index.list(&q);
            let more = items.len() as i64 > q.limit;
            let page: Vec<&ProductSummary> = items.iter().take(q.limit as usize).collect();
            out.extend(page.iter().map(|p| p.id));
            match (more, page.last()) {
                (true, Some(last)) => q.after = Some(ListingCursor::after(last, q.sort)),
                _ => return out,
            }
        }
    }

    proptest::proptest! {
        /// A listing without a text or filter but `in_stock` (read from the orders and totals the
        /// index keeps up to date) answers what a pass over the whole catalog answers: every
        /// page, through cursors, and the facets, after products were changed and taken out.
        #[test]
        fn the_unfiltered_listing_agrees_with_a_pass_over_the_catalog(
            prices in proptest::collection::vec(0i64..30_000, 1..40),
            changed in proptest::collection::vec(0usize..40, 0..20),
            removed in proptest::collection::vec(0usize..40, 0..10),
            limit in 1i64..6,
            sort in proptest::sample::select(vec![Sort::Newest, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating]),
            in_stock: bool,
        ) {
            let mut index = Index::new();
            let brands = ["Acme", "Globex", "Hooli"];
            for (i, price) in prices.iter().enumerate() {
                index.upsert(product(i as u128 + 1, "Oak Lamp", "", brands[i % 3], *price));
            }
            for &i in changed.iter().filter(|i| **i < prices.len()) {
                index.upsert(product(i as u128 + 1, "Oak Lamp", "", brands[(i + 1) % 3], prices[i] / 2 + 7));
            }
            for &i in &removed {
                index.remove(id(i as u128 + 1));
            }
            index.refresh_vocabulary();
            let q = ListingQuery { sort, limit, in_stock, ..Default::default() };
            // A filter every product passes takes the pass over the catalog.
            let pass = ListingQuery { price_min: Some(i64::MIN), ..q.clone() };
            proptest::prop_assert_eq!(index.page(&q, true), index.page(&pass, true));
            proptest::prop_assert_eq!(page_through(&index, &q), page_through(&index, &pass));
        }

        /// Paging with cursors visits every selected product once, in the order of one long page.
        #[test]
        fn pages_cover_the_listing_in_order(
            names in proptest::collection::vec(
                proptest::sample::select(vec!["oak lamp", "cotton shirt", "oak shirt", "lamp", "cotton"]), 1..40),
            limit in 1i64..6,
            sort in proptest::sample::select(vec![Sort::Relevance, Sort::Newest, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating]),
        ) {
            let mut index = Index::new();
            for (i, name) in names.iter().enumerate() {
                index.upsert(product(i as u128 + 1, name, "", "Acme", 1000 + (i as i64 % 5) * 100));
            }
            index.refresh_vocabulary();
            let text = (sort == Sort::Relevance).then(|| "oak cotton lamp shirt".split(' ').nth(names.len() % 4).unwrap().to_owned());
            let q = ListingQuery { q: text, sort, limit, ..Default::default() };
            let long = index.list(&ListingQuery { limit: 1000, ..q.clone() });
            // The long page is in the sort's order, written out here as the SQL listing's.
            let order = |a: &ProductSummary, b: &ProductSummary| match sort {
                Sort::Relevance => b.rank.total_cmp(&a.rank).then(b.id.cmp(&a.id)),
                Sort::Newest => b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)),
                Sort::PriceAsc => a.price_min.amount_minor.cmp(&b.price_min.amount_minor).then(a.id.cmp(&b.id)),
                Sort::PriceDesc => b.price_min.amount_minor.cmp(&a.price_min.amount_minor).then(b.id.cmp(&a.id)),
                Sort::Rating => b.rank.total_cmp(&a.rank).then(b.rating_count.cmp(&a.rating_count)).then(b.id.cmp(&a.id)),
            };
            proptest::prop_assert!(long.windows(2).all(|w| order(&w[0], &w[1]) == Ordering::Less), "out of order: {:?}", long);
            let whole: Vec<Uuid> = long.iter().map(|p| p.id).collect();
            proptest::prop_assert_eq!(page_through(&index, &q), whole);
        }
    }
}
