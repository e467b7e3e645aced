//! Placeholder: the es_bulk decoder is added here.
