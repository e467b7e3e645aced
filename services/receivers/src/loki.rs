//! Placeholder: the loki decoder is added here.
