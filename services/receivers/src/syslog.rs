//! Placeholder: the syslog decoder is added here.
