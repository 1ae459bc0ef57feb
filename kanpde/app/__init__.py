"""The Hydra application: config schemas, building objects from configs, the entry point."""
