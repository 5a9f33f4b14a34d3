//! `/docs`: the interactive API reference (Swagger UI), served from the binary so it renders
//! with no network at all (offline laptops, locked-down networks). The UI's files come from the
//! Swagger UI bundle that `utoipa-swagger-ui` vendors (feature `vendored`: the release archive
//! is a crates.io package, Apache-2.0, its licence inside the archive and in
//! `docs/api.md`); this module only serves them and writes the page around them, titled after
//! the API. `GET /` redirects here.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The files of the bundle the page uses; anything else under `/docs/` is 404.
const ASSETS: [&str; 3] = ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"];

pub fn configure(cfg: &mut web::ServiceConfig, title: &str) {
    let page = web::Data::new(Page(index_html(title)));
    cfg.app_data(page)
        .route("/", web::get().to(root))
        .route("/docs", web::get().to(index))
        .route("/docs/", web::get().to(index))
        .route("/docs/init.js", web::get().to(init_js))
        .route("/docs/{file}", web::get().to(asset));
}

struct Page(String);

fn index_html(title: &str) -> String {
    let title = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} reference</title>\n<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n\
         <link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\">\n</head>\n<body>\n\
         <div id=\"swagger-ui\"></div>\n<script src=\"/docs/swagger-ui-bundle.js\"></script>\n\
         <script src=\"/docs/init.js\"></script>\n</body>\n</html>\n"
    )
}

/// The UI's start-up, a file of its own so the page's policy can refuse inline scripts.
const INIT_JS: &str = "window.ui = SwaggerUIBundle({\n  url: '/openapi.json',\n  dom_id: '#swagger-ui',\n  \
                       deepLinking: true,\n  displayOperationId: true,\n  filter: true,\n  \
                       presets: [SwaggerUIBundle.presets.apis],\n  layout: 'BaseLayout'\n});\n";

async fn root() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/docs")).finish()
}

async fn index(page: web::Data<Page>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page.0.clone())
}

async fn init_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(INIT_JS)
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    let file = file.into_inner();
    if !ASSETS.contains(&file.as_str()) {
        return HttpResponse::NotFound().finish();
    }
    let config = Arc::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    match utoipa_swagger_ui::serve(&file, config) {
        Ok(Some(f)) => HttpResponse::Ok()
            .content_type(f.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(f.bytes.into_owned()),
        _ => HttpResponse::NotFound().finish(),
    }
}
