// A storefront and an admin, end to end, through the generated client only. `tsc --strict`
// checks it (no casts: every value is narrowed from the typed answers) and `npm run journey`
// runs it against a live instance:
//
//   SHOP_URL=http://127.0.0.1:8080 SHOP_ADMIN_EMAIL=... SHOP_ADMIN_PASSWORD=... npm run journey
//
// The instance needs a few active products in stock and a shipping method for DE (what
// `shop-api seed` creates) and an admin account.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createShopClient, type Schemas } from "../src/index.js";

const baseUrl = process.env.SHOP_URL ?? "http://127.0.0.1:8080";
const adminEmail = process.env.SHOP_ADMIN_EMAIL ?? "admin@example.com";
const adminPassword = process.env.SHOP_ADMIN_PASSWORD ?? "demo store passphrase";

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, asserting its status. */
function ok<T>(answer: Answer<T>, status: number, what: string): T {
  const got = answer.response.status;
  if (answer.data === undefined || got !== status) {
    throw new Error(`${what}: expected ${status}, got ${got}: ${JSON.stringify(answer.error ?? answer.data)}`);
  }
  return answer.data;
}

/** An answer without a body (204). */
function done(answer: Answer<unknown>, what: string): void {
  assert.equal(answer.response.status, 204, `${what}: ${JSON.stringify(answer.error)}`);
}

/** A problem document with this status and code. */
function problem(answer: Answer<unknown>, status: number, code: string, what: string): Schemas["Problem"] {
  assert.equal(answer.response.status, status, what);
  assert.equal(answer.response.headers.get("content-type"), "application/problem+json", what);
  const error = answer.error;
  assert.ok(isProblem(error), `${what}: not a problem document`);
  assert.equal(error.code, code, what);
  return error;
}

function isProblem(value: unknown): value is Schemas["Problem"] {
  return typeof value === "object" && value !== null && "code" in value && "status" in value;
}

const address: Schemas["AddressInput"] = {
  full_name: "Ada Lovelace",
  line1: "Unter den Linden 1",
  city: "Berlin",
  postal_code: "10117",
  country: "DE",
};

let access: string | undefined;
const shop = createShopClient({ baseUrl, accessToken: () => access });
const anonymous = createShopClient({ baseUrl });

async function storefront(): Promise<{ orderId: string; email: string }> {
  // Register and sign in.
  const email = `journey-${randomUUID()}@example.com`;
  const password = "correct horse battery staple";
  const created = await anonymous.POST("/api/v1/auth/register", { body: { email, password, name: "Journey" } });
  const user = ok(created, 201, "register");
  assert.equal(user.email, email);
  assert.equal(created.response.headers.get("location"), "/api/v1/me");

  // Browse: the category tree, a listing, a search, a product.
  const tree = ok(await anonymous.GET("/api/v1/categories"), 200, "categories");
  assert.ok(tree.length > 0, "seeded categories");
  const listing = ok(
    await anonymous.GET("/api/v1/products", { params: { query: { in_stock: true, limit: 10, sort: "newest" } } }),
    200,
    "listing",
  );
  const firstListed = listing.items[0];
  assert.ok(firstListed, "a product in stock");
  const words = firstListed.name.split(" ");
  const term = words[words.length - 1] ?? firstListed.name;
  const search = ok(await anonymous.GET("/api/v1/products", { params: { query: { q: term } } }), 200, "search");
  assert.ok(search.items.length > 0, `search for ${term}`);
  const product = ok(
    await anonymous.GET("/api/v1/products/{id_or_slug}", { params: { path: { id_or_slug: firstListed.slug } } }),
    200,
    "product",
  );
  const variant = product.variants.find((v) => v.available);
  assert.ok(variant, "an available variant");

  // A guest cart, merged at sign-in.
  const guest = ok(
    await anonymous.POST("/api/v1/cart/lines", { body: { variant_id: variant.id, quantity: 2 } }),
    200,
    "guest add",
  );
  const cartToken = guest.cart_token;
  assert.ok(cartToken, "a guest cart token");
  const guestCart = ok(
    await anonymous.GET("/api/v1/cart", { params: { header: { "X-Cart-Token": cartToken } } }),
    200,
    "guest cart",
  );
  assert.equal(guestCart.item_count, 2);

  const session = ok(await anonymous.POST("/api/v1/auth/login", { body: { email, password } }), 200, "login");
  access = session.access_token;
  const refreshToken = session.refresh_token;
  assert.ok(refreshToken, "bearer mode returns the refresh token");
  const merged = ok(await shop.POST("/api/v1/cart/merge", { body: { cart_token: cartToken } }), 200, "merge");
  assert.equal(merged.item_count, 2);

  // Checkout, retried with the same Idempotency-Key: one order.
  const methods = ok(await anonymous.GET("/api/v1/shipping-methods"), 200, "shipping methods");
  const method = methods.find((m) => m.countries.length === 0 || m.countries.includes("DE"));
  assert.ok(method, "a shipping method for DE");
  const key = randomUUID();
  const checkout = {
    params: { header: { "Idempotency-Key": key } },
    body: { shipping_address: address, shipping_method_id: method.id, payment_token: "tok_visa" },
  };
  const order = ok(await shop.POST("/api/v1/checkout", checkout), 201, "checkout");
  assert.equal(order.status, "paid");
  assert.equal(order.total.amount_minor, order.subtotal.amount_minor + order.shipping.amount_minor + order.tax.amount_minor);
  const replay = ok(await shop.POST("/api/v1/checkout", checkout), 201, "checkout replay");
  assert.equal(replay.id, order.id, "the same key does the work once");
  const emptyCart = ok(await shop.GET("/api/v1/cart"), 200, "cart after checkout");
  assert.equal(emptyCart.item_count, 0);

  // Orders.
  const mine = ok(await shop.GET("/api/v1/orders"), 200, "my orders");
  assert.deepEqual(
    mine.items.map((o) => o.id),
    [order.id],
  );
  const again = ok(await shop.GET("/api/v1/orders/{id}", { params: { path: { id: order.id } } }), 200, "my order");
  assert.equal(again.lines[0]?.variant_id, variant.id);

  // A review of what was bought.
  const review = ok(
    await shop.POST("/api/v1/products/{id}/reviews", {
      params: { path: { id: product.id } },
      body: { rating: 5, title: "Journey", body: "Bought through the typed client." },
    }),
    201,
    "review",
  );
  assert.equal(review.rating, 5);
  const reviews = ok(
    await anonymous.GET("/api/v1/products/{id}/reviews", { params: { path: { id: product.id } } }),
    200,
    "reviews",
  );
  assert.ok(reviews.items.some((r) => r.id === review.id));

  // Refresh, then sign out: the refresh token stops working.
  const refreshed = ok(
    await anonymous.POST("/api/v1/auth/refresh", { body: { refresh_token: refreshToken } }),
    200,
    "refresh",
  );
  access = refreshed.access_token;
  ok(await shop.GET("/api/v1/me"), 200, "me");
  done(await shop.POST("/api/v1/auth/logout"), "logout");
  problem(await shop.GET("/api/v1/me"), 401, "session-ended", "after logout");
  const next = refreshed.refresh_token;
  assert.ok(next);
  problem(
    await anonymous.POST("/api/v1/auth/refresh", { body: { refresh_token: next } }),
    401,
    "invalid-refresh-token",
    "refresh after logout",
  );
  access = undefined;
  return { orderId: order.id, email };
}

async function admin(orderId: string): Promise<void> {
  const session = ok(
    await anonymous.POST("/api/v1/auth/login", { body: { email: adminEmail, password: adminPassword } }),
    200,
    "admin login",
  );
  access = session.access_token;
  assert.equal(session.user.role, "admin");

  // A product with a variant, then stock for it.
  const slug = `journey-${randomUUID().slice(0, 8)}`;
  const created = await shop.POST("/api/v1/admin/products", {
    body: {
      slug,
      name: "Journey Tee",
      currency: "EUR",
      status: "active",
      attributes: { material: "cotton" },
      variants: [{ sku: `${slug}-m`, price_minor: 1999, stock: 0, options: { size: "M" } }],
    },
  });
  const product = ok(created, 201, "create product");
  assert.ok(created.response.headers.get("location")?.endsWith(product.id), "Location of the new product");
  const variant = product.variants[0];
  assert.ok(variant);
  const adjusted = ok(
    await shop.POST("/api/v1/admin/variants/{id}/inventory", {
      params: { path: { id: variant.id } },
      body: { delta: 25, reason: "restock", note: "journey" },
    }),
    201,
    "restock",
  );
  assert.equal(adjusted.stock_after, 25);
  problem(
    await shop.POST("/api/v1/admin/variants/{id}/inventory", {
      params: { path: { id: variant.id } },
      body: { delta: -26, reason: "adjustment" },
    }),
    409,
    "insufficient-stock",
    "stock never goes negative",
  );
  const visible = ok(
    await anonymous.GET("/api/v1/products/{id_or_slug}", { params: { path: { id_or_slug: slug } } }),
    200,
    "the new product is public",
  );
  assert.equal(visible.variants[0]?.options["size"], "M");

  // Fulfilment: ship the customer's order, then refund it.
  const shipped = ok(
    await shop.POST("/api/v1/admin/orders/{id}/ship", {
      params: { path: { id: orderId } },
      body: { carrier: "DHL", tracking_number: "JOURNEY-1" },
    }),
    200,
    "ship",
  );
  assert.equal(shipped.status, "shipped");
  const refunded = ok(
    await shop.POST("/api/v1/admin/orders/{id}/refund", { params: { path: { id: orderId } } }),
    200,
    "refund",
  );
  assert.equal(refunded.status, "refunded");
  access = undefined;
}

const { orderId, email } = await storefront();
await admin(orderId);
console.log(`journey passed against ${baseUrl} (customer ${email}, order ${orderId})`);
