//! Placeholder: the otlp decoder is added here.
