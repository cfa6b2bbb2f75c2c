"""C-V2X application layer (T/CSAE 53-2020 / YD/T 3709-2020): ASN.1 codec, SI conversion,
security envelope and UDP transport. Pure Python; the nodes live in ``nodes/v2x_*.py``."""
