"""The core's necks: generic feature-map adaptors between backbone and head."""
