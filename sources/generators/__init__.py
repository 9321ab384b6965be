"""One simulation module per provider (named like its folder in sources/contracts.yml) and
the pieces they share (`common`); `sources.generator.generate()` runs them."""
