"""cosmos-policy: a robot policy runtime for world-action models."""

__version__ = "0.1.0"
