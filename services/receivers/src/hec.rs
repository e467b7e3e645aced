//! Placeholder: the hec decoder is added here.
