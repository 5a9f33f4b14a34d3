//! Schema pieces the derive macros cannot state (for `#[schema(schema_with = ...)]`).

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

/// An array of at most `max_items` strings, each at most `max_length` long and matching
/// `pattern`; `nullable` for optional (patch) fields.
pub fn string_array(max_items: usize, max_length: usize, pattern: &str, nullable: bool) -> RefOr<Schema> {
    let item = ObjectBuilder::new().schema_type(Type::String).max_length(Some(max_length)).pattern(Some(pattern));
    let kind: SchemaType = if nullable { [Type::Array, Type::Null].into_iter().collect() } else { Type::Array.into() };
    RefOr::T(Schema::Array(ArrayBuilder::new().schema_type(kind).items(item).max_items(Some(max_items)).build()))
}
